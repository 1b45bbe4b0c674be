"""The CLI on the hostile lab: `check`, `journal`, `migrate` and the Markdown/JSON `report` show every planted value
visibly and never write a raw control character (ESC, C1, bidi) to the terminal or into the report."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from lmdoctor.services.backends.lab.scenarios import (
    C1_CSI,
    CLEAR,
    CLICK,
    HOSTILE_HOLDER,
    HOSTILE_NODE,
    MARKUP,
    OSC52,
    UNBALANCED,
)
from lmdoctor.services.domain.safetext import visible
from lmdoctor.services.operations import report
from lmdoctor.services.operations.session import open_demo
from tests.support.cli_lab import Lab
from tests.support.hostile import REASON, plant_history

# What a terminal acts on: C0 controls but line feed, DEL, C1 controls, bidi and other format characters.
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
HOLDER = visible(HOSTILE_HOLDER.upper())  # the directory layer upper-cases account names


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    home = tmp_path_factory.mktemp("hostile-home")
    env = {**os.environ, "LMDOCTOR_DATA_DIR": str(home / "data"), "LMDOCTOR_CONFIG_DIR": str(home / "config")}
    lab = Lab(home / "lab", env=env)
    lab.reset("hostile")
    session = open_demo(lab.root, step_delay=0)
    try:
        plant_history(session)
    finally:
        session.close()
    return lab


def assert_no_raw_control(*texts: str) -> None:
    for text in texts:
        found = RAW_CONTROL.search(text)
        assert found is None, f"raw {found.group()!r} at {found.start()}: …{text[max(0, found.start() - 40):found.end() + 40]!r}…"


def test_check_text_shows_planted_values_without_raw_controls(hostile):
    r = hostile.run("check")
    assert r.returncode == 1, r.stderr
    assert_no_raw_control(r.stdout, r.stderr)
    for value in ("Up " + MARKUP + OSC52, "Paused" + CLEAR + UNBALANCED, HOSTILE_NODE):
        assert visible(value) in r.stdout
    assert HOLDER in r.stdout and "\\x9b2J" in r.stdout


def test_check_json_carries_the_values_escaped(hostile):
    r = hostile.run("check", "--json")
    assert_no_raw_control(r.stdout, r.stderr)
    doc = json.loads(r.stdout)
    states = {n["name"]: n["state"] for n in doc["nodes"]}
    assert states["HV03"] == "Up " + MARKUP + OSC52  # the data is the value itself; only its spelling is escaped


@pytest.mark.parametrize("out", [False, True], ids=["stdout", "file"])
def test_markdown_report_shows_values_without_raw_controls(hostile, tmp_path: Path, out: bool):
    path = tmp_path / "record.md"
    r = hostile.run("report", "--format", "md", *(("--out", str(path)) if out else ()))
    assert r.returncode == 0, r.stderr
    text = path.read_text(encoding="utf-8") if out else r.stdout
    assert_no_raw_control(text, r.stdout, r.stderr)
    assert HOLDER in text and "\\x9b2J" in text
    assert visible(report._cell(REASON)) in text  # Markdown-escaped, so a viewer shows the text, not markup
    assert visible(report._cell(CLICK)) in text  # the planted VM of the failed test move


@pytest.mark.parametrize("out", [False, True], ids=["stdout", "file"])
def test_json_report_parses_to_the_values_without_raw_controls(hostile, tmp_path: Path, out: bool):
    path = tmp_path / "record.json"
    r = hostile.run("report", "--format", "json", *(("--out", str(path)) if out else ()))
    assert r.returncode == 0, r.stderr
    text = path.read_text(encoding="utf-8") if out else r.stdout
    assert_no_raw_control(text, r.stdout, r.stderr)
    doc = json.loads(text)
    assert [c["reason"] for c in doc["changes"]] == [REASON]
    assert doc["verification"][0]["vm"] == CLICK
    assert any(HOSTILE_HOLDER.upper() in f["message"] and C1_CSI in f["message"] for f in doc["findings"])


def test_journal_and_rollback_output_show_the_reason_without_raw_controls(hostile, tmp_path: Path):
    lab = Lab(tmp_path / "lab", env=hostile.env)
    shutil.copytree(hostile.root, lab.root)
    journal = lab.run("journal")
    assert journal.returncode == 0, journal.stderr
    rollback = lab.run("rollback", "--last", "--yes", "--reason", "CHG-8 back out")
    assert rollback.returncode == 0, rollback.stderr
    assert_no_raw_control(journal.stdout, journal.stderr, rollback.stdout, rollback.stderr)
    assert f"reason: {visible(REASON)}" in rollback.stderr
