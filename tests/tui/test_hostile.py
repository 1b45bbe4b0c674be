"""The console on the hostile lab: every planted value is shown as text on every screen — never markup,
never a live click or link, never a control sequence; an unbalanced tag does not crash it.

Assertions are on what the screen really renders (the compositor's segments), not on the widgets' input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.segment import Segment
from textual.content import Content
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Select

from lmdoctor.services.backends.lab.scenarios import (
    BRACKETS,
    C1_CSI,
    CLEAR,
    CLICK,
    HOSTILE_HOLDER,
    HOSTILE_NODE,
    HOSTILE_STRAYS,
    HOSTILE_VMS,
    LINK,
    MARKUP,
    OSC8,
    OSC52,
    UNBALANCED,
)
from lmdoctor.services.domain.safetext import is_clean, visible
from lmdoctor.services.operations import lab_admin as manage
from lmdoctor.services.operations.session import open_demo
from lmdoctor.tui.app import LmDoctorApp
from lmdoctor.tui.screens.drain import DrainScreen
from lmdoctor.tui.screens.findings import FindingsScreen
from lmdoctor.tui.screens.fix import FixScreen
from lmdoctor.tui.screens.journal import JournalScreen
from lmdoctor.tui.screens.matrix import MatrixScreen
from lmdoctor.tui.screens.migrate import MigrateScreen
from lmdoctor.tui.screens.nodes import NodesScreen
from lmdoctor.tui.screens.walkthrough import WalkthroughScreen
from lmdoctor.tui.text import markup_literal
from lmdoctor.tui.widgets.filter_table import FilterTable
from scripts.console_scenes import open_node
from tests.support.hostile import REASON, plant_history
from tests.tui.conftest import FIXED_NOW, settle

SIZE = (400, 70)  # wide enough that no planted value is cut off by a column or the screen edge
HOLDER = visible(HOSTILE_HOLDER.upper())  # the directory layer upper-cases account names


def hostile_app(lab_dir: Path) -> LmDoctorApp:
    """The hostile lab after a failed test move of a planted VM and a fix journaled with a planted reason."""
    manage.reset(lab_dir, "hostile", now=FIXED_NOW)
    session = open_demo(lab_dir, step_delay=0)
    plant_history(session)
    return LmDoctorApp(session, clock=lambda: FIXED_NOW)


def segments(app: LmDoctorApp) -> Iterator[Segment]:
    for strip in app.screen._compositor.render_strips():
        yield from strip


def screen_text(app: LmDoctorApp) -> str:
    return "\n".join("".join(s.text for s in strip) for strip in app.screen._compositor.render_strips())


def assert_safe(app: LmDoctorApp, *values: str) -> str:
    """Every value is on the screen as typed (controls as stand-ins); nothing rendered is a control character,
    a link or a click action that came from a value."""
    text = screen_text(app)
    for value in values:
        assert visible(value) in text, f"{visible(value)!r} is not shown literally on {type(app.screen).__name__}"
    for seg in segments(app):
        assert is_clean(seg.text), f"raw control character rendered: {seg.text!r}"
        style = seg.style
        if style is None:
            continue
        assert not style.link, f"a value became a hyperlink: {seg.text!r} → {style.link}"
        click = (style.meta or {}).get("@click")
        assert click is None or "quit" not in str(click) or "click-me" not in seg.text, seg.text
    return text


@pytest.fixture
def app(tmp_path: Path) -> LmDoctorApp:
    return hostile_app(tmp_path / "lab")


async def test_nodes_screen_shows_planted_values_and_the_planted_click_does_nothing(app):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        # the table measures its columns on a later idle: wait for the widest value to be shown whole
        await settle(pilot, lambda: visible("Up " + MARKUP + OSC52) in screen_text(app))
        assert isinstance(app.screen, NodesScreen)
        text = assert_safe(app, "Up " + MARKUP + OSC52, "Paused" + CLEAR + UNBALANCED, *HOSTILE_VMS)
        row = next(i for i, line in enumerate(text.splitlines()) if "click-me" in line)
        column = text.splitlines()[row].index("click-me")
        await pilot.click(offset=(column + 2, row))
        await settle(pilot)
        assert app.is_running and app.return_code is None and isinstance(app.screen, NodesScreen)
        assert_safe(app, CLICK)


async def test_node_tabs_show_delegation_values_holders_and_events_as_text(app):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        await open_node(pilot, "HV01")
        await pilot.press("2")
        await settle(pilot)
        assert_safe(app, *(f"cifs/{v}" for v in (MARKUP, CLICK, LINK, UNBALANCED)), "cifs/clip" + OSC52,
                    "cifs/link" + OSC8, "cifs/wipe" + CLEAR, "cifs/c1" + C1_CSI)
        await pilot.press("3")
        await settle(pilot)
        events = app.screen.query_one("#event-table DataTable", DataTable)
        events.focus()
        planted = next(i for i, e in enumerate(app.snapshot.node("HV01").host.events) if e.log.startswith("Planted"))
        events.move_cursor(row=planted)
        await settle(pilot)
        event = app.snapshot.node("HV01").host.events[planted]
        text = assert_safe(app, event.level, event.log, *event.message.splitlines())
        assert "second line \\x9b2J" in text
        await open_node(pilot, "HV03")
        assert HOLDER in assert_safe(app)
        await open_node(pilot, "HV02")
        await pilot.press("2")
        await settle(pilot)
        assert_safe(app, *HOSTILE_STRAYS)


async def test_findings_detail_and_a_manual_remedy_notification_show_values_as_text(app):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        await pilot.press("f")
        await settle(pilot)
        table = app.screen.query_one(FilterTable)
        dup = next(f for f in app.findings if f.code == "spn.duplicate")
        table.table.move_cursor(row=table.table.get_row_index(dup.id))
        await settle(pilot)
        assert HOLDER in assert_safe(app, HOSTILE_NODE)
        await pilot.press("enter")  # no automatic fix: the remedy is shown in a notification
        await settle(pilot)
        assert isinstance(app.screen, FindingsScreen)
        assert screen_text(app).count(HOLDER) >= 2
        assert_safe(app)


async def test_fix_preview_and_matrix_show_planted_values_as_text(app):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        await pilot.press("f")
        await settle(pilot)
        table = app.screen.query_one(FilterTable)
        stray = next(f for f in app.findings if f.code == "delegation.wrong_object")
        table.table.move_cursor(row=table.table.get_row_index(stray.id))
        await settle(pilot)
        assert_safe(app, *HOSTILE_STRAYS)
        await pilot.press("enter")
        await settle(pilot, lambda: bool(getattr(app.screen, "previews", None)))
        assert isinstance(app.screen, FixScreen)
        assert_safe(app, *(f"- {v}" for v in HOSTILE_STRAYS))
        await pilot.press("escape", "escape")  # the preview, then the findings
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, MatrixScreen)
        names = [n.name for n in app.snapshot.nodes]
        app.screen.query_one(DataTable).cursor_coordinate = Coordinate(names.index("HV02"), names.index("HV01") + 1)
        await settle(pilot)
        assert_safe(app, "HV02 → HV01")


async def test_migrate_screen_lists_and_moves_planted_vms_as_text(app):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, MigrateScreen)
        app.screen.query_one("#vm", Select).value = CLICK
        await settle(pilot)
        assert_safe(app, CLICK)
        app.screen.query_one("#vm", Select).focus()
        await pilot.press("enter")  # the VM list opens
        await settle(pilot)
        assert_safe(app, CLICK)
        await pilot.press("escape")
        await settle(pilot)
        for vm in HOSTILE_VMS:
            app.screen.query_one("#vm", Select).value = vm
            await settle(pilot)
            assert_safe(app, f"{vm}  (on HV01)")
        app.screen.query_one("#vm", Select).value = "clip" + OSC52
        await settle(pilot)
        await pilot.press("w")
        await settle(pilot, lambda: not app.screen.running)
        assert_safe(app, "clip" + OSC52, "Pre-flight: Move-VM -Name clip" + OSC52)


async def test_journal_rows_detail_and_rollback_dialog_show_the_reason_and_values_as_text(app):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        await pilot.press("j")
        await settle(pilot)
        assert isinstance(app.screen, JournalScreen)
        app.screen.query_one(FilterTable).table.move_cursor(row=0)
        await settle(pilot)
        assert_safe(app, REASON)
        await pilot.press("u")
        await settle(pilot)
        assert_safe(app, "cifs/clip" + OSC52, f"cifs/{CLICK}")
        await pilot.press("escape")
        await settle(pilot)


async def test_walkthrough_steps_show_cluster_states_and_events_as_text(app):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        await pilot.press("w")
        await settle(pilot, lambda: getattr(app.screen, "current_result", None) is not None)
        assert isinstance(app.screen, WalkthroughScreen)
        shown = ""
        while not app.screen.walkthrough.state.finished:
            await settle(pilot, lambda: app.screen.current_result is not None)
            shown += assert_safe(app)
            await pilot.press("s", "y")  # skip the step, deliberately
        await settle(pilot)  # the last step's check is done before the console closes
        assert visible("Up " + MARKUP + OSC52) in shown and visible("Paused" + CLEAR + UNBALANCED) in shown


async def test_a_node_name_lmdoctor_cannot_use_is_shown_as_text_in_its_finding(app):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        bad = next(f for f in app.findings if f.code == "host.bad_value")
        await pilot.press("f")
        await settle(pilot)
        table = app.screen.query_one(FilterTable)
        table.table.move_cursor(row=table.table.get_row_index(bad.id))
        await settle(pilot)
        assert_safe(app, HOSTILE_NODE, bad.message)


@pytest.mark.parametrize("value", [MARKUP, CLICK, LINK, UNBALANCED, BRACKETS, HOSTILE_NODE, "a\\[b]c", "[$accent]x",
                                   "tail\\", "clip" + OSC52])
def test_palette_titles_show_a_value_literally(value: str):
    """The palette reads command titles as markup: a node name is escaped for it (lmdoctor.tui.text.markup_literal)."""
    assert Content.from_markup(markup_literal(value)).plain == visible(value)



async def test_drain_shows_planted_vm_names_and_a_cell_of_lines_keeps_each_value_escaped(app):
    """The drain table lists the planted VM names as text; a cell of several lines (the blockers' cell) breaks
    only between values: a line feed or control planted inside a value is still shown as a stand-in."""
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        await pilot.press("d")
        await settle(pilot, lambda: isinstance(app.screen, DrainScreen))
        assert_safe(app, *HOSTILE_VMS)
        table = app.screen.query_one(FilterTable)
        planted = (MARKUP + "\n" + CLEAR, "two " + OSC52 + CLICK)
        table.set_rows([("row", ("row", planted))])
        await settle(pilot)
        assert table.table.get_cell("row", table.table.ordered_columns[1].key).plain == "\n".join(map(visible, planted))
        assert "␊" in visible(planted[0])
        assert_safe(app, *planted)
