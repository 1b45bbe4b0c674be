"""The console in a real terminal (tmux, fixed size): the seed lab from the fault to the proof and back, and the
hostile lab walked with the raw terminal stream and tmux's clipboard watched.

nodes → findings → fix (preview, reason, apply) → test Move-VM succeeds → journal undo → the move fails again."""

from __future__ import annotations

import base64
import os
import shlex
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

    def tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", *args], env=self.env, capture_output=True, text=True, timeout=10)
        return done.stdout + done.stderr

    def start_recorded(self, command: list[str], stream: Path) -> None:
        """Start `command` once tmux takes OSC 52 clipboard writes into its buffers (set-clipboard on) and records
        every byte the pane writes to the terminal (pipe-pane) — nothing is missed before the recording starts."""
        go = stream.with_suffix(".go")
        waiting = f"while [ ! -e {shlex.quote(str(go))} ]; do sleep 0.05; done; exec {shlex.join(command)}"
        self.start(["sh", "-c", waiting])
        self.tmux("set-option", "-g", "set-clipboard", "on")
        self.tmux("pipe-pane", "-o", "-t", self.name, f"cat >> {shlex.quote(str(stream))}")
        go.touch()

    def clipboard(self) -> str:
        """Every tmux paste buffer: an OSC 52 write from the pane lands here (set-clipboard on)."""
        return self.tmux("list-buffers") + self.tmux("show-buffer")

    def alive(self) -> bool:
        return subprocess.run(["tmux", "has-session", "-t", self.name], env=self.env, capture_output=True,
                              timeout=10).returncode == 0

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
    terminal.wait_for("Live test move of APP01", "Get-VM -ComputerName HV02 -Name APP01", "Move the VM")
    terminal.keys("CHG-1001 test move", literal=True)
    terminal.keys("Enter")
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
    terminal.wait_for("Live test move of APP02", "Move the VM")
    terminal.keys("CHG-1001 retest", literal=True)
    terminal.keys("Enter")
    screen = terminal.wait_for("Move failed", timeout=60)
    assert "0x8009030E" in screen or "No credentials are available" in screen
    terminal.keys("q")


def test_tmux_records_an_osc52_write_into_its_clipboard(terminal: Terminal, tmp_path: Path) -> None:
    """The harness below would see a clipboard write: a pane that prints OSC 52 fills a tmux buffer."""
    from lmdoctor.services.backends.lab.scenarios import CLIPBOARD_TEXT, OSC52

    stream = tmp_path / "control.raw"
    terminal.start_recorded(["sh", "-c", f"printf '%s' {shlex.quote(OSC52)}; printf ready; sleep 30"], stream)
    terminal.wait_for("ready")
    deadline = time.monotonic() + 10
    while CLIPBOARD_TEXT not in terminal.clipboard() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert CLIPBOARD_TEXT in terminal.clipboard()
    assert OSC52.encode() in stream.read_bytes()


def test_hostile_values_never_drive_the_terminal(terminal: Terminal, tmp_path: Path) -> None:
    """Every screen on the hostile lab: the planted values are on screen as stand-ins; not one planted OSC 52,
    OSC 8, ESC[2J or C1 sequence reaches the terminal, and nothing lands on the clipboard."""
    from lmdoctor.services.backends.lab.scenarios import C1_CSI, CLEAR, CLIPBOARD_TEXT, OSC8, OSC52
    from lmdoctor.services.operations import lab_admin as manage
    from lmdoctor.services.operations.session import open_demo
    from tests.support.hostile import plant_history

    lab = tmp_path / "lab"
    manage.reset(lab, "hostile")
    session = open_demo(lab, step_delay=0)
    try:
        plant_history(session)
    finally:
        session.close()
    stream = tmp_path / "stream.raw"
    terminal.start_recorded([str(LMDOCTOR), "--demo", "--lab-dir", str(lab)], stream)

    # Nodes: cluster states as typed.
    terminal.wait_for("HV01", "as of", "Up [bold red]styled[/]␛]52;c;aWV4KHBsYW50ZWQtY2xpcGJvYXJkKQ==␇",
                      "Paused␛[2JWIPEDbackup[/]")
    def visit(key: str, *shown: str, literal: bool = False) -> None:
        """Open a screen from the nodes screen, wait for `shown`, and come back (Esc is sent only once the
        screen is up: tmux would read Esc and a quick next key as one Meta key)."""
        terminal.keys(key, literal=literal)
        terminal.wait_for(*shown)
        terminal.keys("Escape")
        terminal.wait_for("Walkthrough", absent=shown[0])

    # Node HV01: delegation values and events.
    terminal.keys("Enter")
    terminal.wait_for("Service principal name")
    terminal.keys("2")
    terminal.wait_for("cifs/[@click=app.quit]click-me[/]", "cifs/[bold red]styled[/]", "cifs/clip␛]52;c;",
                      "cifs/link␛]8;;file:///etc/passwd␛\\planted-link", "cifs/wipe␛[2JWIPED", "cifs/c1\\x9b2J")
    visit("3", "Migration of '[@click=app.quit]click-me[/]' failed [bold red]styled[/]")
    # Node HV03: the SPN holder's name.
    terminal.keys("Down", "Down")
    visit("Enter", "OLD[/]␛]52;C;")
    # Test Move-VM: the planted VM names in the VM list.
    terminal.keys("m")
    terminal.wait_for("Move and verify", "APP01  (on HV01)")
    terminal.keys("Enter")
    terminal.wait_for("[@click=app.quit]click-me[/]  (on HV01)", "SQL [prod]  (on HV01)")
    terminal.keys("Escape")
    terminal.wait_for("Move and verify", absent="SQL [prod]  (on HV01)")
    terminal.keys("Escape")
    terminal.wait_for("Walkthrough", absent="Move and verify")
    # Findings, matrix, journal (the planted reason), walkthrough, help, palette.
    visit("f", "spn.duplicate", "[BOLD]HV05[/]: 1 value(s)")
    visit("x", "src \\ dst")
    visit("j", "reason: CHG-7 [bold red]styled[/]", "[@click=app.quit]click-me[/]",
          "backup[/]␛]52;c;aWV4KHBsYW50ZWQtY2xpcGJvYXJkKQ==␇␛[2JWIPED")
    visit("w", "Step 1/")
    visit("?", "Keys on this screen")
    terminal.keys(":")
    visit("Node HV0", "Node HV01", literal=True)
    clipboard = terminal.clipboard()  # before quitting: the tmux server ends with its last session
    terminal.keys("q")
    deadline = time.monotonic() + 10
    while terminal.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not terminal.alive()

    raw = stream.read_bytes()
    assert b"\x1b]52" not in raw and b"\x1b]8;" not in raw and b"\x1b[2J" not in raw
    for planted in (OSC52, OSC52.upper(), OSC8, CLEAR, C1_CSI):
        assert planted.encode() not in raw
    assert "␛]52;c;aWV4KHBsYW50ZWQtY2xpcGJvYXJkKQ==␇".encode() in raw  # shown, as stand-ins
    assert CLIPBOARD_TEXT not in clipboard and base64.b64encode(CLIPBOARD_TEXT.encode()).decode() not in clipboard


def test_a_migration_tour_in_a_real_terminal(terminal: Terminal, tmp_path: Path) -> None:
    """nodes → t → preview → start with a reason → live hops → every hop passed; the VM back on its node."""
    from lmdoctor.services.operations import lab_admin as manage

    lab = tmp_path / "lab"
    manage.reset(lab, "healthy")
    terminal.start([str(LMDOCTOR), "--demo", "--lab-dir", str(lab)])
    terminal.wait_for("HV01", "HV04", "as of", "Tour")
    terminal.keys("t")
    terminal.wait_for("Preview hops", "APP01  (on HV01)")
    terminal.keys("p")
    terminal.wait_for("APP01 from HV01, 4 live move(s)", "HV04  HV01  not run")
    terminal.keys("g")
    terminal.wait_for("Migration tour of APP01", "Start the tour")
    terminal.keys("CHG-1003 tour", literal=True)
    terminal.keys("Enter")
    terminal.wait_for("Running", "copied")  # a hop's live progress in its row
    screen = terminal.wait_for("Tour complete: every hop passed (4 of 4).", "APP01 is on HV01.", timeout=90)
    assert screen.count("passed") >= 4 and "68 ms" in screen and "8.0 GiB" in screen
    terminal.keys("Escape")
    terminal.wait_for("Walkthrough", absent="Preview hops")
    terminal.keys("q")
