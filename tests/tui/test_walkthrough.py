"""The guided walkthrough in the console at 80×24: the seed from Symptom to Prevention, resume, deliberate skip."""

from __future__ import annotations

from textual.widgets import Input, Log, Static

from lmdoctor.services.operations import credssp
from lmdoctor.services.operations.session import open_demo
from lmdoctor.services.operations.walkthrough import Step
from lmdoctor.services.storage import move_log
from lmdoctor.tui.app import LmDoctorApp
from lmdoctor.tui.screens.confirm import ReasonDialog
from lmdoctor.tui.screens.fix import FixScreen
from lmdoctor.tui.screens.walkthrough import ConfirmSkip, WalkthroughScreen
from tests.tui.conftest import FIXED_NOW, confirm_move, make_app, open_walkthrough, settle, step_to

SIZE = (80, 24)


def text(app, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def test_seed_from_symptom_to_prevention(demo_app):
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_walkthrough(pilot)
        assert screen.walkthrough.current == Step.SYMPTOM
        assert "Reproduced: APP01 cannot move HV01 → HV02" in text(app, "#wt-headline")
        assert "0x8009030E" in text(app, "#wt-found")
        await pilot.press("c")
        assert "Move-VM -Name APP01 -ComputerName HV01 -DestinationHost HV02 -WhatIf" in app.clipboard

        await step_to(pilot, screen, Step.ENVIRONMENT)
        assert "All answering nodes use Kerberos" in text(app, "#wt-found")
        await step_to(pilot, screen, Step.TRIAGE)
        assert "lacks cifs/HV02.contoso.local" in text(app, "#wt-found")
        assert "Get-ADComputer HV01 -Properties msDS-AllowedToDelegateTo" in text(app, "#wt-commands")
        await step_to(pilot, screen, Step.DIAGNOSIS)
        await step_to(pilot, screen, Step.FIX)
        assert not screen.current_result.met

        await pilot.press("enter")  # the condition does not hold: Enter does not move on
        await settle(pilot)
        assert screen.walkthrough.current == Step.FIX and app.session.journal.entries() == []

        await pilot.press("f")
        await settle(pilot, lambda: isinstance(app.screen, FixScreen) and bool(app.screen.previews))
        assert "cifs/HV02.contoso.local" in text(app, "#preview")
        await pilot.press(*"CHG-4001", "enter")
        await settle(pilot, lambda: not app.screen.busy and app.screen.wrote)
        assert "read back OK" in "\n".join(app.screen.query_one("#fix-log", Log).lines)
        await pilot.press("escape")
        await settle(pilot, lambda: app.screen is screen and bool(screen.current_result and screen.current_result.met))
        assert "Nothing left to fix" in text(app, "#wt-headline")

        await step_to(pilot, screen, Step.CREDSSP)
        assert "Credential Guard" in text(app, "#wt-found")
        await step_to(pilot, screen, Step.VERIFY)
        await confirm_move(pilot, "CHG-4001 verify", lambda: app.screen is screen and not screen.moving
                           and bool(screen.current_result and screen.current_result.met))
        assert "APP01 moved HV01 → HV02" in text(app, "#wt-headline")
        assert app.session.hosts.get_vm("HV02", "APP01") is not None

        await step_to(pilot, screen, Step.ROLLBACK)
        assert "Allow HV01 to delegate to HV02" in text(app, "#wt-found")
        await step_to(pilot, screen, Step.PREVENTION)
        assert screen.current_result.met
        await pilot.press("enter")
        await settle(pilot, lambda: screen.walkthrough.state.finished)
        assert "Walkthrough complete" in text(app, "#wt-headline")
        assert "Skipped: none" in text(app, "#wt-found")
        assert [e.state for e in app.session.journal.entries()] == ["intent", "applied"]


async def test_reopening_continues_where_it_stopped(tmp_path):
    lab = tmp_path / "lab"
    app = make_app(lab)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_walkthrough(pilot)
        await step_to(pilot, screen, Step.ENVIRONMENT)
        await step_to(pilot, screen, Step.TRIAGE)
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, WalkthroughScreen)
        await pilot.press("w")  # reopened in the same session
        await settle(pilot, lambda: isinstance(app.screen, WalkthroughScreen) and app.screen.current_result is not None)
        assert app.screen.walkthrough.current == Step.TRIAGE

    again = LmDoctorApp(open_demo(lab, step_delay=0), clock=lambda: FIXED_NOW)  # a new run on the same lab
    async with again.run_test(size=SIZE) as pilot:
        screen = await open_walkthrough(pilot)
        assert screen.walkthrough.current == Step.TRIAGE
        assert "Step 3/9" in text(again, "#wt-rail") and "Triage" in text(again, "#wt-rail")
        assert "HV01 → HV02" in text(again, "#wt-headline")


async def test_skipping_needs_a_confirmation(demo_app):
    app = demo_app("duplicate-spn")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_walkthrough(pilot)
        for step in (Step.ENVIRONMENT, Step.TRIAGE, Step.DIAGNOSIS, Step.FIX):
            await step_to(pilot, screen, step)
        assert screen.current_result.status == "manual"
        assert "setspn -D 'HOST/HV02' HV02-OLD" in text(app, "#wt-commands")

        await pilot.press("s")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmSkip))
        assert "Skip 'Fix'" in str(app.screen.query_one("#skip-question").render())
        await pilot.press("n")
        await settle(pilot)
        assert app.screen is screen and screen.walkthrough.current == Step.FIX

        await pilot.press("s", "y")
        await settle(pilot, lambda: screen.walkthrough.current == Step.CREDSSP and screen.current_result is not None)
        assert screen.walkthrough.state.outcomes[Step.FIX] == "skipped"
        assert "»" in text(app, "#wt-rail")
        assert not app.screen.query(Input)  # no stray input left open


async def test_credssp_window_opened_and_closed_from_the_walkthrough(demo_app):
    app = demo_app("healthy")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_walkthrough(pilot)
        for step in (Step.ENVIRONMENT, Step.TRIAGE, Step.DIAGNOSIS, Step.FIX, Step.CREDSSP):
            await step_to(pilot, screen, step)
        await pilot.press("o")
        await settle(pilot, lambda: isinstance(app.screen, ReasonDialog))
        await pilot.press("enter")  # no reason: refused, nothing written
        await settle(pilot)
        assert isinstance(app.screen, ReasonDialog) and app.session.journal.entries() == []
        await pilot.press(*"CHG-6001 window", "enter")
        await settle(pilot, lambda: app.screen is screen and len(credssp.windows(app.session.remediator)) == 2)
        await settle(pilot, lambda: "A CredSSP window is open on HV01, HV02" in text(app, "#wt-found"))

        await step_to(pilot, screen, Step.VERIFY)
        await pilot.press("s", "y")
        await settle(pilot, lambda: screen.walkthrough.current == Step.ROLLBACK and screen.current_result is not None)
        assert not screen.current_result.met and "k closes it" in text(app, "#wt-headline")
        await pilot.press("k")
        await settle(pilot, lambda: isinstance(app.screen, ReasonDialog))
        await pilot.press(*"CHG-6001 close", "enter")
        await settle(pilot, lambda: app.screen is screen and bool(screen.current_result and screen.current_result.met))
        assert not credssp.windows(app.session.remediator)
        assert {app.snapshot.node(h).host.settings.auth_type.value for h in ("HV01", "HV02")} == {"Kerberos"}


async def test_verify_asks_for_a_reason_esc_leaves_the_vm_and_a_reason_moves_it(demo_app):
    app = demo_app("healthy")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_walkthrough(pilot)
        for step in (Step.ENVIRONMENT, Step.TRIAGE, Step.DIAGNOSIS, Step.FIX, Step.CREDSSP, Step.VERIFY):
            await step_to(pilot, screen, step)
        await pilot.press("g")
        await settle(pilot, lambda: isinstance(app.screen, ReasonDialog))
        body = "\n".join(str(w.render()) for w in app.screen.query("Plain").results(Static))
        assert "a live migration from HV01 to HV02" in body and "Get-VM -ComputerName HV02 -Name APP01" in body
        await pilot.press("escape")  # cancel: nothing moves
        await settle(pilot, lambda: app.screen is screen)
        assert not screen.moving and screen.walkthrough.state.verify is None
        assert app.session.hosts.get_vm("HV01", "APP01") is not None and app.session.hosts.get_vm("HV02", "APP01") is None
        assert move_log.history(app.session.journal) == []

        await confirm_move(pilot, "CHG-43 verify", lambda: app.screen is screen and not screen.moving
                           and bool(screen.current_result and screen.current_result.met))
        assert "APP01 moved HV01 → HV02" in text(app, "#wt-headline")
    assert app.session.hosts.get_vm("HV02", "APP01") is not None and app.session.hosts.get_vm("HV01", "APP01") is None
    (record,) = move_log.history(app.session.journal)
    assert (record.reason, record.result.ok, record.result.what_if) == ("CHG-43 verify", True, False)


async def test_the_walkthrough_answers_check_action_before_it_mounts(demo_app):
    """The key bar may ask a screen's bindings before the screen's on_mount has run (seen under load: an
    AttributeError from check_action ended the console); the runbook state exists from the start."""
    app = demo_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        screen = WalkthroughScreen()  # made, not yet pushed or mounted
        assert screen.check_action("restart", ()) is False  # a fresh runbook is not finished
        assert screen.check_action("next", ()) is True
