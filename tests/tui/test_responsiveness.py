"""The console stays responsive while a host hangs: keys are handled during a slow inventory."""

from __future__ import annotations

import threading
import time

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


async def test_keys_are_handled_while_a_host_hangs(tmp_path):
    app = make_app(tmp_path / "lab")
    hanging = HangingHost(app.session.hosts, "HV03")
    app.session.hosts = hanging
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause(0.3)
        inventory = [w for w in app.workers if w.group == "inventory"]
        assert inventory and inventory[0].state == WorkerState.RUNNING
        started = time.monotonic()
        await pilot.press("question_mark")
        await pilot.pause()
        latency = time.monotonic() - started
        assert isinstance(app.screen, HelpScreen)
        assert inventory[0].state == WorkerState.RUNNING  # the host is still hanging
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, NodesScreen)
        for _ in range(100):  # the status line repaints on the next refresh; a loaded machine may need a moment
            if "Read host" in str(app.screen.query_one(".status-line").render()):
                break
            await pilot.pause(0.05)
        assert "Read host" in str(app.screen.query_one(".status-line").render())
        hanging.release.set()
        await settle(pilot, lambda: app.snapshot is not None)
        assert [n.name for n in app.snapshot.nodes] == ["HV01", "HV02", "HV03", "HV04"]
    print(f"key handled in {latency * 1000:.0f} ms while HV03 hung")
