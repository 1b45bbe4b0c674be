"""The console's live test move, driven by keys: g previews the move and asks for a reason and a confirmation;
Esc leaves the VM where it is, a reason and Enter move it and log the reason with the move."""

from __future__ import annotations

from textual.widgets import Static

from lmdoctor.services.storage import move_log
from lmdoctor.tui.messages import OpenMigrate
from lmdoctor.tui.screens.confirm import ReasonDialog
from lmdoctor.tui.screens.migrate import MigrateScreen
from tests.tui.conftest import settle


def _text(app, selector: str) -> str:
    return "\n".join(str(w.render()) for w in app.screen.query(selector).results(Static))


def _on(app, node: str) -> bool:
    return app.session.hosts.get_vm(node, "APP01") is not None


async def _open(pilot) -> None:
    """The test Move-VM screen with APP01 (on HV01) and HV02 chosen."""
    await settle(pilot, lambda: pilot.app.snapshot is not None)
    pilot.app.post_message(OpenMigrate("APP01", "HV02"))
    await settle(pilot, lambda: isinstance(pilot.app.screen, MigrateScreen))


async def test_g_asks_for_a_reason_esc_leaves_the_vm_and_a_reason_moves_it(demo_app):
    app = demo_app("healthy")
    async with app.run_test(size=(140, 40)) as pilot:
        await _open(pilot)
        await pilot.press("g")
        await settle(pilot, lambda: isinstance(app.screen, ReasonDialog))
        body = _text(app, "Plain")
        assert "Live test move of APP01" in _text(app, "PlainLabel")
        assert "a live migration from HV01 to HV02" in body and "-DestinationHost HV02 -WhatIf" in body
        assert "Get-VM -ComputerName HV02 -Name APP01" in body
        await pilot.press("escape")  # cancel: nothing runs
        await settle(pilot, lambda: isinstance(app.screen, MigrateScreen))
        assert not app.screen.running and _text(app, "#move-result") == ""
        assert _on(app, "HV01") and not _on(app, "HV02") and move_log.history(app.session.journal) == []

        await pilot.press("g")
        await settle(pilot, lambda: isinstance(app.screen, ReasonDialog))
        await pilot.press("enter")  # no reason: refused, the dialog stays
        await settle(pilot)
        assert isinstance(app.screen, ReasonDialog) and "reason" in _text(app, "#reason-error")
        await pilot.press(*"CHG-42", "space", *"move", "enter")
        await settle(pilot, lambda: isinstance(app.screen, MigrateScreen) and not app.screen.running
                     and "moved" in _text(app, "#move-result"))
        assert "APP01 moved HV01 → HV02 and is verified there" in _text(app, "#move-result")
    assert _on(app, "HV02") and not _on(app, "HV01")
    (record,) = move_log.history(app.session.journal)
    assert (record.reason, record.result.ok, record.result.what_if) == ("CHG-42 move", True, False)


async def test_w_runs_the_pre_flight_without_asking(demo_app):
    app = demo_app("healthy")
    async with app.run_test(size=(140, 40)) as pilot:
        await _open(pilot)
        await pilot.press("w")
        await settle(pilot, lambda: "can move" in _text(app, "#move-result"))
        assert isinstance(app.screen, MigrateScreen)
    (record,) = move_log.history(app.session.journal)
    assert record.result.what_if and record.reason is None and _on(app, "HV01")
