"""The console stays responsive while a host hangs: keys are handled during a slow inventory."""

from __future__ import annotations

import threading
from collections.abc import Callable

from textual.worker import WorkerState

from lmdoctor.services.backends.hosts.base import HostGateway
from lmdoctor.services.domain.models import HostReport
from lmdoctor.tui.screens.help import HelpScreen
from lmdoctor.tui.screens.nodes import NodesScreen
from tests.tui.conftest import make_app, settle


class HangingHost:
    """Wraps a gateway; one host's report blocks until released (a host that never answers)."""

    def __init__(self, inner: HostGateway, host: str) -> None:
        self.inner, self.host = inner, host
        self.release = threading.Event()

    def host_report(self, host: str) -> HostReport:
        if host == self.host:
            self.release.wait(30)
        return self.inner.host_report(host)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


async def shown(pilot, condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Whether `condition` holds within `timeout` s, without waiting for workers (one of them hangs)."""
    for _ in range(int(timeout / 0.05)):
        await pilot.pause()
        if condition():
            return True
        await pilot.pause(0.05)
    return condition()


async def test_keys_are_handled_while_a_host_hangs(tmp_path):
    app = make_app(tmp_path / "lab")
    hanging = HangingHost(app.session.hosts, "HV03")
    app.session.hosts = hanging
    async with app.run_test(size=(120, 35)) as pilot:
        inventory = [w for w in app.workers if w.group == "inventory"]
        assert inventory and await shown(pilot, lambda: "Read host" in status(app))  # hosts are being read
        await pilot.press("question_mark")
        assert await shown(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert inventory[0].state == WorkerState.RUNNING  # the key was handled while the host still hangs
        await pilot.press("escape")
        assert await shown(pilot, lambda: isinstance(app.screen, NodesScreen))
        assert inventory[0].state == WorkerState.RUNNING and "Read host" in status(app)
        hanging.release.set()
        await settle(pilot, lambda: app.snapshot is not None)
        assert [n.name for n in app.snapshot.nodes] == ["HV01", "HV02", "HV03", "HV04"]
        assert "as of" in status(app)


def status(app) -> str:
    return str(app.screen.query_one(".status-line").render())


async def test_a_reads_progress_never_outlives_it_nor_an_older_read_a_newer_one(tmp_path):
    """Progress is posted by the read's worker, which does not wait for it to be shown: a report that arrives
    after its read is on screen is dropped, and so is an older read that ends after a newer one was shown."""
    from lmdoctor.tui.console import ReadProgress

    app = make_app(tmp_path / "lab")
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        first = app.inventory
        assert first.findings  # so that an older read's [] would show
        app.post_message(ReadProgress(1, "Read host HV02… (3/5)"))  # read 1's report, late
        await settle(pilot)
        assert app.progress == "" and "as of" in status(app)
        app.post_message(ReadProgress(2, "Read host HV02… (3/5)"))  # a read under way
        await settle(pilot)
        assert app.progress == "Read host HV02… (3/5)" and "Read host" in status(app)
        app.show_inventory(first.snapshot, first.findings, read=2)
        app.show_inventory(first.snapshot, [], read=1)  # read 1 ends after read 2 was shown
        app._inventory_failed("DC unreachable", read=1)  # or fails after it
        await settle(pilot)
        assert app.progress == "" and app.findings == first.findings and app.inventory.error is None
