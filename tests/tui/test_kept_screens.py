"""Screens kept between visits (tui/kept_screens.py): a second visit shows the same screen, current with the
inventory read while it was away; one node screen and one drain screen serve every node; another cluster's
screens are not kept."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Header, Input

from lmdoctor.services.operations import lab_admin as manage
from lmdoctor.services.operations.session import open_demo
from lmdoctor.tui.screens.connect import ConnectScreen
from lmdoctor.tui.screens.drain import DrainScreen
from lmdoctor.tui.screens.findings import FindingsScreen
from lmdoctor.tui.screens.node import NodeScreen
from lmdoctor.tui.screens.nodes import NodesScreen
from lmdoctor.tui.widgets.filter_table import FilterTable
from lmdoctor.tui.widgets.plain import Plain
from scripts.console_scenes import FIXED_NOW, make_app, open_node, settle


def _listed(screen: FindingsScreen) -> list[str]:
    table = screen.query_one(FilterTable).table
    return [str(table.coordinate_to_cell_key((row, 0)).row_key.value) for row in range(table.row_count)]


async def _open_findings(pilot) -> FindingsScreen:
    await pilot.press("f")
    await settle(pilot, lambda: isinstance(pilot.app.screen, FindingsScreen))
    return pilot.app.screen


async def _home(pilot) -> None:
    await pilot.press("escape")
    await settle(pilot, lambda: isinstance(pilot.app.screen, NodesScreen))


async def test_a_kept_screen_shows_the_inventory_read_while_it_was_away(tmp_path: Path):
    app = make_app(tmp_path / "lab", "seed")
    async with app.run_test(size=(160, 44)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        first = await _open_findings(pilot)
        before = _listed(first)
        assert any(f.startswith("delegation.missing") for f in before)
        await _home(pilot)
        manage.reset(tmp_path / "lab", "healthy", now=FIXED_NOW)  # the cluster was fixed elsewhere
        old = app.inventory
        await pilot.press("ctrl+r")
        await settle(pilot, lambda: app.inventory is not old and app.inventory.as_of is not None)
        again = await _open_findings(pilot)
        assert again is first  # kept, not composed again
        assert _listed(again) == [f.id for f in app.findings] != before


def _text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Plain).render())


async def test_one_kept_node_screen_shows_each_node_in_turn(tmp_path: Path):
    app = make_app(tmp_path / "lab", "seed")
    async with app.run_test(size=(160, 44)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        await open_node(pilot, "HV01")
        screen = app.screen
        assert isinstance(screen, NodeScreen) and screen.node_name == "HV01"
        await pilot.press("3")  # the events tab, the cursor on HV01's first event
        await settle(pilot)
        hv01_event = app.snapshot.node("HV01").host.events[0]
        assert hv01_event.message.splitlines()[0] in _text(screen, "#event-detail")

        await open_node(pilot, "HV02")
        assert app.screen is screen and screen.node_name == "HV02"
        spns = [str(key.value) for key in screen.query_one("#spn-table", FilterTable).table.rows]
        await pilot.press("3")  # a tab other than the first is rendered as it is shown
        await settle(pilot)
        hv02_event = app.snapshot.node("HV02").host.events[0]
        assert hv02_event.message != hv01_event.message
        detail = _text(screen, "#event-detail")  # the same row key, now HV02's event
        assert hv02_event.message.splitlines()[0] in detail and hv01_event.message.splitlines()[0] not in detail
        assert spns and all("HV02" in spn.upper() for spn in spns if "HV0" in spn.upper())
        assert "HV02" in _text(screen, ".status-line")


async def test_one_kept_drain_screen_plans_each_node_and_drops_a_late_answer_for_another(tmp_path: Path):
    app = make_app(tmp_path / "lab", "seed")
    async with app.run_test(size=(160, 44)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        await pilot.press("d")  # the cursor is on HV01
        await settle(pilot, lambda: isinstance(app.screen, DrainScreen))
        drain_screen = app.screen
        assert "HV01" in _text(drain_screen, "#drain-verdict")
        await _home(pilot)
        table = app.screen.query_one(FilterTable).table
        table.move_cursor(row=table.get_row_index("HV03"))
        await pilot.press("d")
        await settle(pilot, lambda: app.screen is drain_screen and "pair(s) asked" in _text(drain_screen, ".status-line"))
        assert drain_screen.node_name == "HV03" and "HV03" in _text(drain_screen, "#drain-verdict")
        vms = {str(key.value) for key in drain_screen.query_one(FilterTable).table.rows}
        assert vms == {vm.name for vm in app.snapshot.node("HV03").host.vms}
        drain_screen._answered("HV01", {}, "HV01's pre-flight, answered late")
        assert "answered late" not in _text(drain_screen, ".status-line")


async def test_another_cluster_keeps_none_of_the_old_screens(tmp_path: Path):
    app = make_app(tmp_path / "lab", "seed")
    async with app.run_test(size=(160, 44)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        first = await _open_findings(pilot)
        await _home(pilot)
        manage.reset(tmp_path / "lab2", "healthy", now=FIXED_NOW)
        app.switch_session(open_demo(tmp_path / "lab2", step_delay=0))
        await settle(pilot, lambda: app.inventory.as_of is not None)
        again = await _open_findings(pilot)
        assert again is not first
        assert _listed(again) == [f.id for f in app.findings]
        await settle(pilot, lambda: not first.is_attached)  # the old one is gone, not kept in memory


async def test_the_kept_profiles_form_drops_a_typed_password_when_left(tmp_path: Path):
    app = make_app(tmp_path / "lab", "seed")
    async with app.run_test(size=(160, 44)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        await pilot.press("p")
        await settle(pilot, lambda: isinstance(app.screen, ConnectScreen))
        form = app.screen
        form.query_one("#password", Input).value = "Typed-but-not-saved1"
        form.query_one("#winrm_password", Input).value = "Typed-but-not-saved2"
        await _home(pilot)
        assert [form.query_one(f"#{f}", Input).value for f in ("password", "winrm_password")] == ["", ""]
        await pilot.press("p")
        await settle(pilot, lambda: isinstance(app.screen, ConnectScreen))
        assert app.screen is form


async def test_a_screen_is_not_restyled_whole_when_pushed_nor_when_shown_again(tmp_path: Path, monkeypatch):
    """Textual restyles a pushed screen's every widget; lmdoctor's screens skip it when the app's styles have not
    changed since the screen was styled (tui/screens/restyle.py): a new one is styled as it is composed, a kept
    one when it was last shown. A change of class while it is shown still restyles that widget."""
    app = make_app(tmp_path / "lab", "seed")
    async with app.run_test(size=(160, 44)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        restyled: list[object] = []
        update_nodes = app.stylesheet.update_nodes

        def counting(nodes, animate: bool = False) -> None:
            nodes = list(nodes)
            restyled.extend(nodes)
            update_nodes(nodes, animate=animate)

        monkeypatch.setattr(app.stylesheet, "update_nodes", counting)
        first = await _open_findings(pilot)
        assert first not in restyled  # a whole-screen restyle starts at the screen
        await _home(pilot)
        again = await _open_findings(pilot)
        assert again is first and first not in restyled
        status = first.query_one(".status-line", Plain)
        status.add_class("probe")
        assert status in restyled


async def test_a_kept_screen_takes_the_theme_chosen_while_it_was_away(tmp_path: Path):
    app = make_app(tmp_path / "lab", "seed")
    async with app.run_test(size=(160, 44)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        first = await _open_findings(pilot)
        kept_header = first.query_one(Header)
        before = kept_header.styles.background
        await _home(pilot)
        theme = app.theme
        await pilot.press("ctrl+t")
        await settle(pilot, lambda: app.theme != theme)
        home_header = app.screen.query_one(Header)
        assert home_header.styles.background != before  # the theme's header differs, restyled where shown
        again = await _open_findings(pilot)
        await settle(pilot)
        assert again is first and kept_header.styles.background == home_header.styles.background


def _cells(screen, selector: str, column: int) -> list[str]:
    table = screen.query_one(selector, FilterTable).table
    return [str(table.get_cell_at((row, column)).plain) for row in range(table.row_count)]


async def test_the_node_screen_renders_each_tab_as_it_is_shown_from_the_inventory_in_hand(tmp_path: Path):
    """Only the tab shown is rendered when the node or the inventory changes; another is rendered when it is
    shown, by key or by a click on its tab, before it is painted."""
    app = make_app(tmp_path / "lab", "seed")
    async with app.run_test(size=(160, 44)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        await open_node(pilot, "HV01")
        screen = app.screen
        assert _cells(screen, "#peer-table", 1) == []  # not shown yet, not rendered
        await pilot.press("2")
        await settle(pilot)
        assert any(c.startswith("✖") for c in _cells(screen, "#peer-table", 1))
        await pilot.click("#--content-tab-findings")
        await settle(pilot)
        mine = [f.code for f in app.findings if "HV01" in (f.source, f.target)]
        assert mine and _cells(screen, "#finding-table", 1) == mine

        manage.reset(tmp_path / "lab", "healthy", now=FIXED_NOW)
        old = app.inventory
        await pilot.press("ctrl+r")
        await settle(pilot, lambda: app.inventory is not old and app.inventory.as_of is not None)
        # the tab shown follows the new inventory
        assert _cells(screen, "#finding-table", 1) == [f.code for f in app.findings if "HV01" in (f.source, f.target)]
        await pilot.press("2")
        await settle(pilot)
        after = _cells(screen, "#peer-table", 1)  # rendered from the new inventory as it is shown
        assert after and all(c.startswith("✔") for c in after)
