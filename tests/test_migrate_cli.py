"""`lmdoctor migrate`: the live test move is a write (it moves a VM), so it is previewed, needs a reason and a
confirmation (--yes without a terminal), and its reason is in the move log and the report; --what-if is read-only."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from lmdoctor.cli import commands as cli
from lmdoctor.services.backends.lab.state import LabStore
from lmdoctor.services.storage import move_log
from lmdoctor.services.storage.journal import Journal
from tests.support.cli_lab import Lab

MOVE = ("migrate", "--vm", "APP01", "--to", "HV02")
PREVIEW = ("Test Move-VM of APP01: a live migration from HV01 to HV02",
           "1. pre-flight: Move-VM -Name APP01 -ComputerName HV01 -DestinationHost HV02 -WhatIf",
           "2. live move:  Move-VM -Name APP01 -ComputerName HV01 -DestinationHost HV02",
           "3. verify:     Get-VM -ComputerName HV02 -Name APP01")


@pytest.fixture
def healthy(tmp_path: Path) -> Lab:
    """A lab where the live move of APP01 HV01 → HV02 succeeds: a refusal is visible as a VM that stayed."""
    lab = Lab(tmp_path / "lab")
    lab.reset("healthy")
    return lab


def _where(lab: Lab, vm: str) -> list[str]:
    hosts = LabStore(lab.root).load_hosts().hosts
    return [name for name, h in hosts.items() if any(v.name == vm for v in h.vms)]


def _moves(lab: Lab) -> list:
    return move_log.history(Journal(lab.root / "journal.jsonl"))


def test_without_yes_and_without_a_terminal_the_live_move_is_refused_after_the_preview(healthy: Lab) -> None:
    before = healthy.files()
    r = healthy.run(*MOVE, "--reason", "CHG-5 test move")
    assert r.returncode == 2 and r.stdout == ""
    assert "lmdoctor: refusing to write without confirmation: no terminal to ask; pass --yes" in r.stderr
    assert all(line in r.stderr for line in PREVIEW)  # what would have happened was shown first
    assert "Pre-flight passed" not in r.stderr  # not even the pre-flight ran
    r = healthy.run(*MOVE, "--yes")
    assert r.returncode == 2 and "a reason is required for every write: pass --reason" in r.stderr
    assert healthy.files() == before and _where(healthy, "APP01") == ["HV01"] and _moves(healthy) == []


def test_the_reason_is_in_the_move_log_and_the_report(healthy: Lab) -> None:
    r = healthy.run(*MOVE, "--yes", "--reason", "CHG-6 | prove KCD")
    assert r.returncode == 0, r.stderr
    assert "APP01 moved HV01 → HV02 and is verified there" in r.stdout and all(line in r.stderr for line in PREVIEW)
    assert _where(healthy, "APP01") == ["HV02"]
    (record,) = _moves(healthy)
    assert (record.reason, record.tour, record.result.ok, record.result.verified) == ("CHG-6 | prove KCD", None,
                                                                                    True, True)
    md = healthy.run("report", "--no-check")
    assert md.returncode == 0
    assert "| Time | VM | From | To | Pre-flight only | Reason | Result |" in md.stdout
    assert "| APP01 | HV01 | HV02 | False | CHG-6 \\| prove KCD | OK | True |" in md.stdout
    doc = json.loads(healthy.run("report", "--no-check", "--format", "json").stdout)
    assert [(t["reason"], t["ok"]) for t in doc["verification"]] == [("CHG-6 | prove KCD", True)]


def test_what_if_needs_no_reason_nor_confirmation_and_moves_nothing(healthy: Lab) -> None:
    r = healthy.run(*MOVE, "--what-if")
    assert r.returncode == 0, r.stderr
    assert "OK: APP01 could move HV01 → HV02" in r.stdout and "refusing" not in r.stderr
    assert "Test Move-VM of APP01" not in r.stderr  # no live-move preview for a read-only pre-flight
    (record,) = _moves(healthy)
    assert record.result.what_if and record.reason is None and _where(healthy, "APP01") == ["HV01"]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_reason_is_asked_and_no_cancels(healthy: Lab, monkeypatch, capsys) -> None:
    answers = iter(["CHG-7 typed", "n", "CHG-8 typed", "y"])
    prompts: list[str] = []
    monkeypatch.setattr("sys.stdin", _Terminal())
    monkeypatch.setattr("builtins.input", lambda prompt="": prompts.append(prompt) or next(answers))
    argv = [MOVE[0], "--demo", "--lab-dir", str(healthy.root), *MOVE[1:]]
    assert cli.main(argv) == 1
    assert "cancelled; nothing moved" in capsys.readouterr().err
    assert _where(healthy, "APP01") == ["HV01"] and _moves(healthy) == []
    assert cli.main(argv) == 0
    assert prompts == ["Reason / change ticket: ", "Move APP01 to HV02 now? [y/N] "] * 2
    assert _where(healthy, "APP01") == ["HV02"] and [m.reason for m in _moves(healthy)] == ["CHG-8 typed"]


def test_a_vm_already_on_the_destination_is_refused_before_asking(healthy: Lab) -> None:
    r = healthy.run("migrate", "--vm", "APP01", "--to", "HV01", "--reason", "CHG-9")
    assert r.returncode == 2 and "lmdoctor: APP01 is already on HV01" in r.stderr and "refusing" not in r.stderr
