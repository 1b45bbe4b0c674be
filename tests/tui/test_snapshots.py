"""SVG snapshots of every console screen on the seed lab (scenes.LABS names the exceptions) at a fixed clock
(120×36; nodes also 80×24, 200×60).

Baselines live in tests/tui/__snapshots__/; `pytest --snapshot-update` rewrites them after a deliberate change."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from scripts import console_scenes as scenes
from scripts.console_scenes import make_app


@pytest.fixture
def frozen_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Factory: the console on the seed lab (a scene's own, scenes.LABS), its clock, journal and ids frozen
    (scenes.frozen_clock)."""
    monkeypatch.setenv("LMDOCTOR_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("LMDOCTOR_DATA_DIR", str(tmp_path / "data"))
    # a focused input's cursor shows steadily: its 0.5 s blink let a capture on a loaded machine catch it hidden
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    with scenes.frozen_clock():
        yield lambda scene=None: make_app(tmp_path / "lab", scenes.LABS.get(scene, "seed"))


@pytest.mark.parametrize("name", sorted(scenes.SCENES))
def test_screen(snap_compare, frozen_app, name):
    assert snap_compare(frozen_app(name), run_before=scenes.SCENES[name], terminal_size=(120, 36))


@pytest.mark.parametrize("size", [(80, 24), (200, 60)], ids=["80x24", "200x60"])
def test_nodes_at_size(snap_compare, frozen_app, size):
    assert snap_compare(frozen_app(), run_before=scenes.nodes, terminal_size=size)


@pytest.mark.parametrize("name", ["findings", "walkthrough-triage", "matrix", "connect"])
def test_small_terminal(snap_compare, frozen_app, name):
    assert snap_compare(frozen_app(), run_before=scenes.SCENES[name], terminal_size=(80, 24))
