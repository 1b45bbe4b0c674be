"""Screens kept between visits (tui/kept_screens.py): a second visit shows the same screen, current with the
inventory read while it was away; another cluster's screens are not kept."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from lmdoctor.services.operations import lab_admin as manage
from lmdoctor.services.operations.session import open_demo
from lmdoctor.tui.screens.connect import ConnectScreen
from lmdoctor.tui.screens.findings import FindingsScreen
from lmdoctor.tui.screens.node import NodeScreen
from lmdoctor.tui.screens.nodes import NodesScreen
from lmdoctor.tui.widgets.filter_table import FilterTable
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


async def test_each_node_has_its_own_kept_screen(tmp_path: Path):
    app = make_app(tmp_path / "lab", "seed")
    async with app.run_test(size=(160, 44)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        await open_node(pilot, "HV01")
        hv01 = app.screen
        assert isinstance(hv01, NodeScreen) and hv01.node_name == "HV01"
        await open_node(pilot, "HV02")
        hv02 = app.screen
        assert isinstance(hv02, NodeScreen) and hv02 is not hv01 and hv02.node_name == "HV02"
        await open_node(pilot, "HV01")
        assert app.screen is hv01


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
