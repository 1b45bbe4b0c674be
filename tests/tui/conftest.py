"""Console fixtures: a demo app over a fresh lab with a fixed clock, and helpers to wait on workers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
from textual.pilot import Pilot

from lmdoctor.services.operations import lab_admin as manage
from lmdoctor.services.operations.session import open_demo
from lmdoctor.tui.app import LmDoctorApp

FIXED_NOW = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)


def make_app(lab_dir: Path, scenario: str = "seed", read_only: bool = False) -> LmDoctorApp:
    manage.reset(lab_dir, scenario, now=FIXED_NOW)
    session = open_demo(lab_dir, read_only=read_only, step_delay=0)
    return LmDoctorApp(session, clock=lambda: FIXED_NOW)


@pytest.fixture
def demo_app(tmp_path: Path) -> Callable[..., LmDoctorApp]:
    return lambda scenario="seed", read_only=False: make_app(tmp_path / "lab", scenario, read_only)


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
