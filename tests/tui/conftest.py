"""Console fixtures: a demo app over a fresh lab with a fixed clock, and helpers to wait on workers and to
step through the walkthrough. The demo app and settle are the screenshot scenes' own (scripts/console_scenes.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lmdoctor.services.operations.walkthrough import Step
from lmdoctor.tui.app import LmDoctorApp
from lmdoctor.tui.screens.walkthrough import WalkthroughScreen
from scripts.console_scenes import FIXED_NOW, confirm_move, make_app, settle

__all__ = ["FIXED_NOW", "confirm_move", "make_app", "open_walkthrough", "settle", "step_to"]


@pytest.fixture
def demo_app(tmp_path: Path) -> Callable[..., LmDoctorApp]:
    return lambda scenario="seed", read_only=False: make_app(tmp_path / "lab", scenario, read_only)


async def open_walkthrough(pilot) -> WalkthroughScreen:
    """From home: w opens the walkthrough; wait for its first check."""
    app = pilot.app
    await settle(pilot, lambda: app.snapshot is not None)
    await pilot.press("w")
    await settle(pilot, lambda: isinstance(app.screen, WalkthroughScreen) and app.screen.current_result is not None)
    return app.screen


async def step_to(pilot, screen: WalkthroughScreen, step: Step) -> None:
    """Press Enter and wait for the next step's check."""
    await pilot.press("enter")
    await settle(pilot, lambda: screen.walkthrough.current == step and screen.current_result is not None)
