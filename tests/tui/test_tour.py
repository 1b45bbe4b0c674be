"""The migration tour screen, driven by keys: open from the nodes screen, preview, confirm with a reason, live
per-hop rows, stop after the current hop, resume."""

from __future__ import annotations

import threading

from textual.widgets import DataTable, Input, Static

from lmdoctor.services.storage import move_log, tour_state
from lmdoctor.tui.screens.confirm import ReasonDialog
from lmdoctor.tui.screens.tour import TourScreen
from tests.tui.conftest import settle


def _rows(app) -> list[list[str]]:
    table = app.screen.query_one("#tour-hops DataTable", DataTable)
    return [[c.plain for c in table.get_row_at(i)] for i in range(table.row_count)]


def _text(app, widget_id: str) -> str:
    return str(app.screen.query_one(widget_id, Static).render())


async def _open(pilot) -> None:
    app = pilot.app
    await settle(pilot, lambda: app.snapshot is not None)
    await pilot.press("t")
    await settle(pilot, lambda: isinstance(app.screen, TourScreen))


async def test_preview_confirm_run_and_stop_at_the_failed_hop(demo_app):
    app = demo_app("seed")  # HV01 may not delegate to HV02
    async with app.run_test(size=(160, 44)) as pilot:
        await _open(pilot)
        await pilot.press("p")  # APP01 (on HV01), a cycle
        await settle(pilot)
        assert [r[:4] for r in _rows(app)] == [["1", "HV01", "HV02", "not run"], ["2", "HV02", "HV03", "not run"],
                                               ["3", "HV03", "HV04", "not run"], ["4", "HV04", "HV01", "not run"]]
        assert "APP01 from HV01, 4 live move(s)" in _text(app, "#tour-summary")
        await pilot.press("g")
        await settle(pilot, lambda: isinstance(app.screen, ReasonDialog))
        await pilot.press("enter")  # no reason: refused, the dialog stays
        await settle(pilot)
        assert isinstance(app.screen, ReasonDialog) and "reason" in _text(app, "#reason-error")
        app.screen.query_one("#reason", Input).value = "CHG-88 tour"
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, TourScreen) and not app.screen.running)
        rows = _rows(app)
        assert rows[0][:4] == ["1", "HV01", "HV02", "FAILED (pre-flight)"]
        assert [r[3] for r in rows[1:]] == ["not run"] * 3
        result = _text(app, "#tour-result")
        assert "hop 1 HV01 → HV02 failed" in result and "0x8009030E" in result
        assert "APP01 is on HV01." in result and "r resumes" in result
        saved = tour_state.unfinished(app.session.journal)
        assert saved is not None and saved.reason == "CHG-88 tour" and saved.status == "failed"
        assert [m.tour for m in move_log.history(app.session.journal)] == [saved.id]


async def test_progress_rows_appear_live_and_s_stops_after_the_current_hop_then_r_resumes(demo_app):
    app = demo_app("healthy")
    hosts = app.session.hosts
    real_move, halfway, release = hosts.move_vm, threading.Event(), threading.Event()

    def held_move(vm, source, destination, what_if=False, progress=None):
        """The lab's move, held at 50 % (on the runner's thread) until the test has looked and pressed s."""
        def report(p):
            if progress:
                progress(p)
            if p.percent == 50 and not release.is_set():
                halfway.set()
                assert release.wait(10)
        return real_move(vm, source, destination, what_if=what_if, progress=report)

    hosts.move_vm = held_move
    async with app.run_test(size=(160, 44)) as pilot:
        await _open(pilot)
        screen = app.screen
        await pilot.press("g")
        await settle(pilot, lambda: isinstance(app.screen, ReasonDialog))
        app.screen.query_one("#reason", Input).value = "CHG-89"
        await pilot.press("enter")
        for _ in range(500):
            await pilot.pause(0.02)
            if halfway.is_set() and app.screen is screen and _rows(app)[0][3] == "50% copied":
                break
        assert _rows(app)[0][:4] == ["1", "HV01", "HV02", "50% copied"]  # the hop's live row
        assert [r[3] for r in _rows(app)[1:]] == ["not run"] * 3
        await pilot.press("s")  # stop after the current hop
        assert screen.stop_flag.is_set() and "Stopping after the current hop" in _text(app, "#tour-summary")
        release.set()
        await settle(pilot, lambda: not screen.running)
        rows = _rows(app)
        assert rows[0][:4] == ["1", "HV01", "HV02", "passed"] and rows[0][5:7] == ["68 ms", "8.0 GiB"]
        assert [r[3] for r in rows[1:]] == ["not run"] * 3
        assert "Tour stopped: 3 hop(s) left" in _text(app, "#tour-result")
        assert "APP01 is on HV02." in _text(app, "#tour-result")
        await pilot.press("r")
        await settle(pilot, lambda: not screen.running and "Tour complete" in _text(app, "#tour-result"))
        assert [r[3] for r in _rows(app)] == ["passed"] * 4
        assert "APP01 is on HV01." in _text(app, "#tour-result")
        assert tour_state.unfinished(app.session.journal) is None


async def test_a_saved_tour_is_offered_for_resume_and_esc_goes_back(demo_app):
    app = demo_app("seed")
    async with app.run_test(size=(160, 44)) as pilot:
        await _open(pilot)
        await pilot.press("g")
        await settle(pilot, lambda: isinstance(app.screen, ReasonDialog))
        app.screen.query_one("#reason", Input).value = "CHG-90"
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, TourScreen) and not app.screen.running)
        await pilot.press("escape")
        await settle(pilot, lambda: not isinstance(app.screen, TourScreen))
        await pilot.press("t")
        await settle(pilot, lambda: isinstance(app.screen, TourScreen))
        assert "Unfinished tour" in _text(app, "#tour-summary") and "r resumes it" in _text(app, "#tour-summary")
        assert _rows(app)[0][3] == "FAILED (pre-flight)"


async def test_read_only_refuses_the_tour(demo_app):
    app = demo_app("healthy", read_only=True)
    async with app.run_test(size=(160, 44)) as pilot:
        await _open(pilot)
        await pilot.press("g")
        await settle(pilot)
        assert isinstance(app.screen, TourScreen)
        assert "read-only: refusing a live move" in _text(app, "#tour-result")
