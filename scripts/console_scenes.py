"""Console scenes on the seed lab (or the scenario LABS names) at a fixed clock: each drives a Pilot to one
screen state.

Shared by scripts/screenshots.py and the snapshot tests (tests/tui/test_snapshots.py), so both show the same,
repeatable screens; the console tests use its demo app (make_app) and settle too. Not part of the product."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

from textual.pilot import Pilot
from textual.widgets import DataTable

from lmdoctor.services.operations import lab_admin as manage
from lmdoctor.services.operations.session import open_demo
from lmdoctor.services.operations.walkthrough import Step
from lmdoctor.services.storage import profiles
from lmdoctor.tui.app import LmDoctorApp

FIXED_NOW = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)

Scene = Callable[[Pilot], Awaitable[None]]
FROZEN_MODULES = ("lmdoctor.services.storage.journal", "lmdoctor.services.storage.move_log", "lmdoctor.services.backends.lab.hosts", "lmdoctor.services.backends.lab.directory",
                  "lmdoctor.services.operations.inventory", "lmdoctor.services.operations.tour")


def make_app(lab_dir: Path, scenario: str = "seed", read_only: bool = False) -> LmDoctorApp:
    """The console on a fresh lab of `scenario` in `lab_dir`, its clock at FIXED_NOW."""
    manage.reset(lab_dir, scenario, now=FIXED_NOW)
    session = open_demo(lab_dir, read_only=read_only, step_delay=0)
    return LmDoctorApp(session, clock=lambda: FIXED_NOW)


async def settle(pilot: Pilot, until: Callable[[], bool] | None = None, timeout: float = 10.0) -> None:
    """Let workers finish and the screen repaint; optionally wait for a condition."""
    loop_time = 0.0
    while True:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if until is None or until():
            return
        await pilot.pause(0.05)
        loop_time += 0.05
        if loop_time > timeout:
            raise AssertionError("console did not reach the expected state in time")


class _FrozenDatetime(datetime):
    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        return FIXED_NOW if tz else FIXED_NOW.replace(tzinfo=None)


async def open_node(pilot: Pilot, name: str) -> None:
    """From home: the cursor to `name`'s row, Enter opens the node (Esc first when another screen is up)."""
    from lmdoctor.tui.screens.nodes import NodesScreen
    from lmdoctor.tui.widgets.filter_table import FilterTable

    while not isinstance(pilot.app.screen, NodesScreen):
        await pilot.press("escape")
        await settle(pilot)
    table = pilot.app.screen.query_one(FilterTable).table
    table.focus()
    table.move_cursor(row=table.get_row_index(name))
    await pilot.press("enter")
    await settle(pilot)


@contextmanager
def frozen_clock() -> Iterator[None]:
    """Journal lines, host events, directory stamps, snapshots and move durations at FIXED_NOW; batch and
    change ids counted from 1."""
    fake_time = SimpleNamespace(monotonic=lambda: 0.0, sleep=time.sleep)
    counter = itertools.count(1)
    fake_uuid = SimpleNamespace(uuid4=lambda: uuid.UUID(int=next(counter) << 80))
    with ExitStack() as stack:
        for module in FROZEN_MODULES:
            stack.enter_context(mock.patch(f"{module}.datetime", _FrozenDatetime))
        stack.enter_context(mock.patch("lmdoctor.services.backends.lab.hosts.time", fake_time))
        stack.enter_context(mock.patch("lmdoctor.services.storage.journal.uuid", fake_uuid))
        stack.enter_context(mock.patch("lmdoctor.services.operations.tour.uuid", fake_uuid))
        yield


def example_profile() -> profiles.Profile:
    return profiles.Profile(name="prod", domain="contoso.local", dc="dc01.contoso.local",
                            bind_user="admin@contoso.local", cluster="HVCLUSTER", nodes=("HV01", "HV02"))


async def ready(pilot: Pilot) -> None:
    """The first inventory is in and the nodes table shows it, column widths measured (DataTable sizes its
    auto-width columns on a later idle, so a capture right after the rows arrive can catch header widths)."""
    from lmdoctor.tui.screens.nodes import NodesScreen
    from lmdoctor.tui.widgets.filter_table import FilterTable

    def shown() -> bool:
        snapshot = pilot.app.snapshot
        home = pilot.app.screen_stack[0]
        return (snapshot is not None and isinstance(home, NodesScreen)
                and home.query_one(FilterTable).table.row_count == len(snapshot.nodes))

    await settle(pilot, shown)
    await settle(pilot)


async def nodes(pilot: Pilot) -> None:
    await ready(pilot)


async def node(pilot: Pilot) -> None:
    await ready(pilot)
    await open_node(pilot, "HV01")


async def node_delegation(pilot: Pilot) -> None:
    await node(pilot)
    await pilot.press("2")
    await settle(pilot)


def _cursor_to(pilot: Pilot, column: int, value: str) -> None:
    table = pilot.app.screen.query_one(DataTable)
    values = [str(table.get_row_at(i)[column]) for i in range(table.row_count)]
    table.move_cursor(row=values.index(value))


async def findings(pilot: Pilot) -> None:
    await ready(pilot)
    await pilot.press("f")
    await settle(pilot)
    _cursor_to(pilot, 1, "delegation.missing")
    await settle(pilot)


async def fix_preview(pilot: Pilot) -> None:
    await findings(pilot)
    await pilot.press("enter")
    await settle(pilot, lambda: bool(getattr(pilot.app.screen, "previews", None)))
    await pilot.press(*"CHG-1001")
    await settle(pilot)


async def fix_applied(pilot: Pilot) -> None:
    await fix_preview(pilot)
    await pilot.press("enter")
    await settle(pilot, lambda: not pilot.app.screen.busy)


async def migrate_failed(pilot: Pilot) -> None:
    await ready(pilot)
    await move(pilot)


async def move(pilot: Pilot) -> None:
    await pilot.press("m")
    await settle(pilot)
    pilot.app.screen.query_one("#destination").value = "HV02"
    await confirm_move(pilot, "CHG-1001 test move")


async def confirm_move(pilot: Pilot, reason: str, done: Callable[[], bool] | None = None) -> None:
    """On the test Move-VM screen (or the walkthrough's Verify step): g, the reason typed key by key into the
    dialog, Enter; wait for the move (until `done`, by default the Move-VM screen no longer running)."""
    from lmdoctor.tui.screens.confirm import ReasonDialog
    from lmdoctor.tui.screens.migrate import MigrateScreen

    await pilot.press("g")
    await settle(pilot, lambda: isinstance(pilot.app.screen, ReasonDialog))
    await pilot.press(*("space" if c == " " else c for c in reason), "enter")
    await settle(pilot, done or (lambda: isinstance(pilot.app.screen, MigrateScreen) and not pilot.app.screen.running))


async def migrate(pilot: Pilot) -> None:
    """A successful, verified move after the delegation fix."""
    await fix_applied(pilot)
    await pilot.press("escape", "escape")
    await settle(pilot, lambda: "delegation.missing" not in {f.code for f in pilot.app.findings})
    await move(pilot)
    await settle(pilot, lambda: bool(pilot.app.snapshot.node("HV02").host.vms))


async def tour(pilot: Pilot) -> None:
    """A tour of WEB01 (on HV03) on the seed lab: the first hop passes, the second meets HV01's missing delegation."""
    from textual.widgets import Input

    from lmdoctor.tui.screens.confirm import ReasonDialog
    from lmdoctor.tui.screens.tour import TourScreen

    await ready(pilot)
    await pilot.press("t")
    await settle(pilot, lambda: isinstance(pilot.app.screen, TourScreen))
    pilot.app.screen.query_one("#vm").value = "WEB01"
    await pilot.press("g")
    await settle(pilot, lambda: isinstance(pilot.app.screen, ReasonDialog))
    pilot.app.screen.query_one("#reason", Input).value = "CHG-1002 maintenance test"
    await pilot.press("enter")
    await settle(pilot, lambda: isinstance(pilot.app.screen, TourScreen) and not pilot.app.screen.running)


async def journal(pilot: Pilot) -> None:
    await fix_applied(pilot)
    await pilot.press("escape", "escape")
    await settle(pilot)
    await pilot.press("j")
    await settle(pilot)


async def help(pilot: Pilot) -> None:
    await ready(pilot)
    await pilot.press("question_mark")
    await settle(pilot)


async def connect(pilot: Pilot) -> None:
    """The profiles screen with one saved profile (the config dir must be a temporary one)."""
    profiles.save(example_profile())
    await ready(pilot)
    await pilot.press("p")
    await settle(pilot, lambda: pilot.app.screen.query_one("#name").value == "prod")


async def connect_errors(pilot: Pilot) -> None:
    await connect(pilot)
    pilot.app.screen.query_one("#dc").value = "dc 01!"
    pilot.app.screen.query_one("#timeout_s").value = "999"
    await pilot.press("ctrl+s")
    await settle(pilot)


async def palette(pilot: Pilot) -> None:
    """The command palette with every command listed: its search runs in a worker that may start after the key
    is handled, and shows a busy indicator when slow, so wait until it has listed everything and is idle."""
    from textual.command import CommandList, CommandPalette

    await ready(pilot)
    await pilot.press("colon")
    expected = len(list(pilot.app.get_system_commands(pilot.app.screen_stack[-2])))

    def listed() -> bool:
        screen = pilot.app.screen
        return (isinstance(screen, CommandPalette) and not screen._show_busy
                and screen.query_one(CommandList).option_count == expected)

    await settle(pilot, listed)
    await settle(pilot)


async def matrix(pilot: Pilot) -> None:
    await ready(pilot)
    await pilot.press("x")
    await settle(pilot)


async def drain(pilot: Pilot) -> None:
    """HV01's drain readiness on the smb-storage lab: APP01 lives on \\\\FS01\\VMs and HV01 may not delegate to
    FS01's cifs, so it stays (the blocker names the finding); APP02 goes to HV02."""
    from lmdoctor.tui.screens.drain import DrainScreen

    await ready(pilot)
    await pilot.press("d")
    await settle(pilot, lambda: isinstance(pilot.app.screen, DrainScreen))
    await settle(pilot)


def walkthrough_at(step: Step) -> Scene:
    """The walkthrough with its check shown at `step` (Enter through the earlier steps; skip the CredSSP one)."""

    async def scene(pilot: Pilot) -> None:
        app = pilot.app
        await ready(pilot)
        await pilot.press("w")
        screen_ready = lambda: getattr(app.screen, "current_result", None) is not None  # noqa: E731
        await settle(pilot, screen_ready)
        wt = app.screen
        while wt.walkthrough.current != step:
            await pilot.press("enter")
            await settle(pilot, screen_ready)

    return scene


SCENES: dict[str, Scene] = {
    "nodes": nodes, "node": node, "node-delegation": node_delegation, "findings": findings,
    "fix-preview": fix_preview, "migrate-failed": migrate_failed, "migrate": migrate, "journal": journal,
    "help": help, "connect": connect, "connect-errors": connect_errors, "palette": palette, "matrix": matrix,
    "walkthrough": walkthrough_at(Step.SYMPTOM), "walkthrough-triage": walkthrough_at(Step.TRIAGE),
    "walkthrough-fix": walkthrough_at(Step.FIX), "drain": drain, "tour": tour,
}
LABS: dict[str, str] = {"drain": "smb-storage"}  # scene -> the lab scenario it runs on (default: seed)
