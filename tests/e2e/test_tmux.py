"""The console in a real terminal (tmux, fixed size): the seed lab from the fault to the proof and back.

nodes → findings → fix (preview, reason, apply) → test Move-VM succeeds → journal undo → the move fails again."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.tmux
LMDOCTOR = Path(sys.executable).with_name("lmdoctor")
WIDTH, HEIGHT = 160, 48


class Terminal:
    """One tmux session running a command; keys in, screen text out."""

    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name, self.env = name, env

    def start(self, command: list[str]) -> None:
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", str(WIDTH), "-y", str(HEIGHT),
                        *command], env=self.env, check=True, timeout=10)

    def keys(self, *keys: str, literal: bool = False) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *(["-l"] if literal else []), *keys],
                       env=self.env, check=True, timeout=10)

    def screen(self) -> str:
        done = subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name], env=self.env, capture_output=True,
                              text=True, timeout=10)
        return done.stdout

    def wait_for(self, *texts: str, absent: str | None = None, timeout: float = 30.0) -> str:
        """Poll the screen until every text is on it (and `absent` is not); fail with the last screen."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if all(t in screen for t in texts) and (absent is None or absent not in screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"waited {timeout} s for {texts!r} (absent {absent!r}); the screen:\n{screen}")

    def kill(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], env=self.env, capture_output=True, timeout=10)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    if not LMDOCTOR.exists():
        pytest.skip(f"{LMDOCTOR} is not installed (pip install -e .)")
    env = dict(os.environ, TERM="xterm-256color", LMDOCTOR_CONFIG_DIR=str(tmp_path / "config"),
               LMDOCTOR_DATA_DIR=str(tmp_path / "data"), TMUX_TMPDIR=str(tmp_path))
    env.pop("TMUX", None)
    term = Terminal(f"lmdoctor-{uuid.uuid4().hex[:8]}", env)
    try:
        yield term
    finally:
        term.kill()


def test_seed_find_fix_migrate_rollback_in_a_real_terminal(terminal: Terminal, tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    terminal.start([str(LMDOCTOR), "--demo", "--lab-dir", str(lab)])

    # Find the fault: the nodes screen, then the findings with their fix plan.
    screen = terminal.wait_for("HV01", "HV04", "ERROR", "as of")
    assert "DEMO" in screen
    terminal.keys("f")
    screen = terminal.wait_for("delegation.missing", "Cause", "Set-ADComputer")

    # Fix: preview every value, a reason, apply; read back.
    terminal.keys("Enter")
    terminal.wait_for("cifs/HV02.contoso.local", "Reason")
    terminal.keys("CHG-1001", literal=True)
    terminal.keys("Enter")
    terminal.wait_for("read back OK", timeout=60)
    terminal.keys("Escape")
    terminal.wait_for("delegation.wrong_object", absent="delegation.missing")
    terminal.keys("Escape")
    terminal.wait_for("HV01", "Walkthrough")

    # Migrate: the test Move-VM succeeds and is verified on the destination.
    terminal.keys("m")
    terminal.wait_for("Move and verify", "APP01  (on HV01)", "HV02")
    terminal.keys("g")
    terminal.wait_for("APP01 moved HV01 → HV02 and is verified there", timeout=60)
    terminal.keys("Escape")

    # Rollback: the journal undoes the last batch with a reason.
    terminal.wait_for("Walkthrough")
    terminal.keys("j")
    terminal.wait_for("applied", "Undo last batch")
    terminal.keys("u")
    terminal.wait_for("Roll back", "undo #")
    terminal.keys("CHG-1001 back out", literal=True)
    terminal.keys("Enter")
    terminal.wait_for("rolled back 1 change(s)", timeout=60)
    terminal.keys("Escape")

    # The delegation is gone again: moving APP02 (still on HV01) to HV02 fails with the host's error.
    terminal.wait_for("Walkthrough", "ERROR")
    terminal.keys("m")
    terminal.wait_for("APP01  (on HV02)")
    terminal.keys("Enter")  # open the VM list
    terminal.wait_for("APP02  (on HV01)")
    terminal.keys("Down")
    terminal.keys("Enter")
    terminal.wait_for("APP02  (on HV01)", "HV02", absent="APP01  (on HV02)")  # the list has closed
    terminal.keys("g")
    screen = terminal.wait_for("Move failed", timeout=60)
    assert "0x8009030E" in screen or "No credentials are available" in screen
    terminal.keys("q")
