"""The console driven by Textual's Pilot: the seed walkthrough find → fix → migrate → rollback, and the
keyboard conventions (Esc, ?, /, palette)."""

from __future__ import annotations

from textual.widgets import DataTable, Input, Log, Static

from lmdoctor.tui.screens.findings import FindingsScreen
from lmdoctor.tui.screens.fix import FixScreen
from lmdoctor.tui.screens.help import HelpScreen
from lmdoctor.tui.screens.journal import JournalScreen
from lmdoctor.tui.screens.migrate import MigrateScreen
from lmdoctor.tui.screens.node import NodeScreen
from lmdoctor.tui.screens.nodes import NodesScreen
from tests.tui.conftest import confirm_move, settle


def text_of(app, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def test_nodes_screen_lists_every_node_with_health(demo_app):
    app = demo_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        assert isinstance(app.screen, NodesScreen)
        table = app.screen.query_one(DataTable)
        assert [table.get_row_at(i)[0].plain for i in range(table.row_count)] == ["HV01", "HV02", "HV03", "HV04"]
        health = {table.get_row_at(i)[0].plain: table.get_row_at(i)[-1].plain.strip() for i in range(table.row_count)}
        assert "ERROR" in health["HV01"] and "OK" in health["HV03"]
        assert "DEMO" in str(app.screen.query_one(".demo-banner", Static).render())


async def test_seed_walkthrough_find_fix_migrate_rollback(demo_app):
    app = demo_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        before = {f.code for f in app.findings}
        assert "delegation.missing" in before

        # The test move fails first, with the host's own error text.
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, MigrateScreen)
        app.screen.query_one("#destination").value = "HV02"
        await confirm_move(pilot, "CHG-1001 test move")
        result = text_of(app, "#move-result")
        assert "Move failed" in result and "0x8009030E" in result

        # Findings → preview → reason → apply.
        await pilot.press("f")
        await settle(pilot)
        assert isinstance(app.screen, FindingsScreen)
        table = app.screen.query_one(DataTable)
        codes = [str(table.get_row_at(i)[1]) for i in range(table.row_count)]  # every cell is Text
        table.move_cursor(row=codes.index("delegation.missing"))
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, FixScreen) and bool(app.screen.previews))
        preview = text_of(app, "#preview")
        assert "cifs/HV02.contoso.local" in preview and "Set-ADComputer" in preview
        await pilot.press("ctrl+s")  # no reason yet: refused, nothing written
        await settle(pilot)
        assert app.session.journal.entries() == []
        await pilot.press(*"CHG-1001")
        await pilot.press("enter")
        await settle(pilot, lambda: not app.screen.busy)
        log = "\n".join(app.screen.query_one(Log).lines)
        assert "read back OK" in log and "klist purge -li 0x3e7 on HV01: done" in log
        await pilot.press("escape")
        await settle(pilot, lambda: "delegation.missing" not in {f.code for f in app.findings})

        # The move now succeeds and is verified on the destination.
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MigrateScreen)
        await confirm_move(pilot, "CHG-1001 test move")
        assert "APP01 moved HV01 → HV02" in text_of(app, "#move-result")
        await settle(pilot, lambda: app.snapshot.node("HV02").host.vms)

        # Journal → undo the last batch with a reason.
        await pilot.press("escape", "escape")
        await settle(pilot)
        assert isinstance(app.screen, NodesScreen)
        await pilot.press("j")
        await settle(pilot)
        assert isinstance(app.screen, JournalScreen)
        assert app.screen.query_one(DataTable).row_count == 2
        await pilot.press("u")
        await settle(pilot)
        await pilot.press(*"CHG-1001 back out")
        await pilot.press("enter")
        await settle(pilot, lambda: "delegation.missing" in {f.code for f in app.findings})
        states = [e.state for e in app.session.journal.entries()]
        assert states == ["intent", "applied", "intent", "applied"]
        assert app.session.journal.entries()[-1].rollback_of == app.session.journal.entries()[1].change_id


async def test_node_drill_down_tabs(demo_app):
    app = demo_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, NodeScreen) and app.screen.node_name == "HV01"
        spns = app.screen.query_one("#spn-table DataTable", DataTable)
        assert spns.row_count >= 4
        await pilot.press("2")
        await settle(pilot)
        flags = text_of(app, "#delegation-flags")
        assert "Protocol transition" in flags
        peers = app.screen.query_one("#peer-table DataTable", DataTable)
        status = {peers.get_row_at(i)[0].plain: peers.get_row_at(i)[1].plain for i in range(peers.row_count)}
        assert status["HV02"].startswith("✖") and status["HV03"].startswith("✔")
        await pilot.press("3")
        await settle(pilot)
        events = app.screen.query_one("#event-table DataTable", DataTable)
        assert events.row_count > 0
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, NodesScreen)


async def test_filter_help_and_escape(demo_app):
    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        await pilot.press("slash", *"hv03")
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        assert table.row_count == 1 and table.get_row_at(0)[0].plain == "HV03"
        assert app.screen.query_one(Input).has_focus
        await pilot.press("enter")  # back to the table, filter kept
        await pilot.press("escape")  # clears the filter, stays on the screen
        await settle(pilot)
        assert isinstance(app.screen, NodesScreen) and table.row_count == 4
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        assert "Test Move-VM" in text_of(app, "#help-text")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, NodesScreen)


async def test_read_only_session_never_writes(demo_app):
    app = demo_app(read_only=True)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        await pilot.press("f", "a")
        await settle(pilot, lambda: isinstance(app.screen, FixScreen) and bool(app.screen.previews))
        assert "Read-only" in text_of(app, "#preview")
        assert app.screen.query_one("#apply").disabled
        await pilot.press(*"CHG-1", "enter", "ctrl+s")
        await settle(pilot)
        assert app.session.journal.entries() == []


async def test_fixing_several_objects_needs_typed_confirmation(demo_app):
    app = demo_app("kerberos-only")
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        await pilot.press("f", "a")
        await settle(pilot, lambda: isinstance(app.screen, FixScreen) and bool(app.screen.previews))
        word = app.screen.query_one("#confirm-word", Input)
        assert not word.has_class("hidden")
        await pilot.press(*"CHG-7", "enter")
        await settle(pilot)
        assert app.session.journal.entries() == []
        word.focus()
        await pilot.press(*"APPLY", "enter")
        await settle(pilot, lambda: not app.screen.busy and app.session.journal.entries())
        assert any(e.state == "applied" for e in app.session.journal.entries())


async def test_the_status_line_shows_new_text_without_laying_the_screen_out(demo_app):
    """The status line is one line as wide as the screen (styles/app.tcss): new text, even longer than the
    screen, repaints it and lays nothing out."""
    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        screen = app.screen
        line = screen.query_one(".status-line", Static)
        await settle(pilot)
        assert not line._layout_required
        screen.set_status("x" * 300)
        assert not line._layout_required  # Static.update asks for a layout pass unless told not to
        await settle(pilot)
        assert text_of(app, ".status-line") == "x" * 300 and line.region.height == 1
        assert line.region.width == app.size.width
