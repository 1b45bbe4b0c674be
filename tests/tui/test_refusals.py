"""The console keeps the CLI's refusals: a read-only session runs no live move, and a reason the CLI
refuses (too long, a pasted TAB) is refused under the field and nothing is applied."""

from __future__ import annotations

from textual import events
from textual.widgets import Button, Input, Static

from lmdoctor.services.operations.walkthrough import Step
from lmdoctor.services.storage import move_log as moves
from lmdoctor.tui.screens.confirm import ReasonDialog
from lmdoctor.tui.screens.fix import FixScreen
from lmdoctor.tui.screens.migrate import MigrateScreen
from tests.tui.conftest import open_walkthrough, settle, step_to


def text_of(app, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def live_moves(app) -> list:
    return [r for r in moves.history(app.session.journal) if not r.result.what_if]


async def test_read_only_move_screen_refuses_the_live_move(demo_app):
    app = demo_app("healthy", read_only=True)  # a live move of APP01 would succeed here
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        await pilot.press("m")
        await settle(pilot, lambda: isinstance(app.screen, MigrateScreen))
        screen = app.screen
        assert screen.query_one("#vm").value == "APP01"
        screen.query_one("#destination").value = "HV02"
        assert screen.query_one("#move", Button).disabled
        await pilot.press("g")
        await settle(pilot, lambda: not screen.running)
        assert "read-only: refusing a live move" in text_of(app, "#move-result")
        assert app.session.hosts.get_vm("HV01", "APP01") is not None and live_moves(app) == []

        await pilot.press("w")  # the pre-flight is a read and still runs
        await settle(pilot, lambda: not screen.running and "can move" in text_of(app, "#move-result"))
        assert screen.query_one("#move", Button).disabled and not screen.query_one("#preflight", Button).disabled
        assert app.session.hosts.get_vm("HV01", "APP01") is not None and live_moves(app) == []


async def test_read_only_walkthrough_verify_refuses_the_live_move(demo_app):
    app = demo_app("healthy", read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_walkthrough(pilot)
        for step in (Step.ENVIRONMENT, Step.TRIAGE, Step.DIAGNOSIS, Step.FIX, Step.CREDSSP, Step.VERIFY):
            await step_to(pilot, screen, step)
        assert "Read-only session" in text_of(app, "#wt-headline")
        await pilot.press("g")
        await settle(pilot, lambda: not screen.moving)
        assert app.session.hosts.get_vm("HV01", "APP01") is not None and live_moves(app) == []
        assert screen.walkthrough.state.verify is None and not screen.current_result.met


async def paste_reason(pilot, text: str) -> None:
    field = pilot.app.screen.query_one("#reason", Input)
    field.focus()
    field.post_message(events.Paste(text))
    await settle(pilot)


async def test_fix_screen_refuses_a_reason_the_cli_refuses(demo_app):
    app = demo_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        await pilot.press("f", "a")
        await settle(pilot, lambda: isinstance(app.screen, FixScreen) and bool(app.screen.previews))
        screen = app.screen
        error = screen.query_one("#reason-error", Static)
        assert not error.display
        for pasted, says in (("R" * 600, "at most 500 characters (got 600)"),
                             ("CHG-1\tKCD for HV01", "contains a control character")):
            screen.query_one("#reason", Input).value = ""
            await paste_reason(pilot, pasted)
            assert screen.query_one("#reason", Input).value == pasted
            await pilot.press("enter")
            await settle(pilot)
            assert app.screen is screen and not screen.busy and not screen.wrote
            assert error.display and says in text_of(app, "#reason-error")
            assert app.session.journal.entries() == []

        screen.query_one("#reason", Input).value = ""
        await paste_reason(pilot, "CHG-1 KCD for HV01")  # a good reason clears the error and applies
        screen.query_one("#confirm-word", Input).value = "APPLY"  # the seed's fix touches two objects
        await pilot.press("enter")
        await settle(pilot, lambda: not screen.busy and screen.wrote)
        assert not error.display
        assert {e.reason for e in app.session.journal.entries()} == {"CHG-1 KCD for HV01"}


async def test_reason_dialog_refuses_a_reason_the_cli_refuses(demo_app):
    app = demo_app()
    answers: list[str | None] = []
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        dialog = ReasonDialog("Roll back", "undo #1", "Roll back")
        app.push_screen(dialog, answers.append)
        await settle(pilot, lambda: app.screen is dialog)
        await paste_reason(pilot, "CHG-2\tback out")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is dialog and answers == []
        assert "contains a control character" in text_of(app, "#reason-error")
        dialog.query_one("#reason", Input).value = "R" * 501
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is dialog and answers == [] and "at most 500" in text_of(app, "#reason-error")
        dialog.query_one("#reason", Input).value = "  CHG-2 back out  "
        await pilot.press("enter")
        await settle(pilot)
        assert answers == ["CHG-2 back out"]
