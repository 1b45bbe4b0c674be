"""`lmdoctor report`: findings, journaled changes, CredSSP windows and test moves for the change record."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.support.cli_lab import Lab

HV02_VALUES = ["Microsoft Virtual System Migration Service/HV02",
               "Microsoft Virtual System Migration Service/HV02.contoso.local", "cifs/HV02", "cifs/HV02.contoso.local"]


@pytest.fixture(scope="module")
def worked_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seed lab: a failed move, fix, a verified move, a CredSSP window (built once, copied per test)."""
    home = tmp_path_factory.mktemp("report-home")
    env = {**os.environ, "LMDOCTOR_DATA_DIR": str(home / "data"), "LMDOCTOR_CONFIG_DIR": str(home / "config")}
    lab = Lab(home / "lab", env=env)
    lab.reset("seed")
    assert lab.run("migrate", "--vm", "APP01", "--to", "HV02", "--yes", "--reason", "CHG-1234 test move").returncode == 1
    assert lab.run("fix", "--all", "--yes", "--reason", "CHG-1234 | KCD for HV01→HV02").returncode == 0
    assert lab.run("fix", "--finding", "delegation.wrong_object:HV02:HV02", "--yes",  # the cleanup: chosen by id
                   "--reason", "CHG-1234 | KCD for HV01→HV02").returncode == 0
    assert lab.run("migrate", "--vm", "APP01", "--to", "HV02", "--yes", "--reason", "CHG-1234 test move").returncode == 0
    assert lab.run("credssp", "--open", "HV04", "--minutes", "30", "--reason", "CHG-99", "--yes").returncode == 0
    return lab.root


@pytest.fixture
def worked_lab(worked_template: Path, tmp_path: Path) -> Lab:
    root = tmp_path / "lab"
    shutil.copytree(worked_template, root)
    return Lab(root)


def test_json_report_holds_findings_changes_windows_and_moves(worked_lab, tmp_path):
    out = tmp_path / "record.json"
    r = worked_lab.run("report", "--format", "json", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert f"report written to {out}" in r.stderr and r.stdout == ""
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["target"].startswith("DEMO") and (doc["domain"], doc["cluster"]) == ("contoso.local", "HVCLUSTER")
    assert [f["id"] for f in doc["findings"]] == ["auth.mismatch:-:HV04"]
    add, remove, window = doc["changes"]
    assert add["state"] == "applied" and add["kind"] == "directory.add_values" and add["added"] == HV02_VALUES
    assert add["reason"] == "CHG-1234 | KCD for HV01→HV02" and set(HV02_VALUES) <= set(add["read_back"])
    assert add["target"] == "CN=HV01,CN=Computers,DC=contoso,DC=local" and "Set-ADComputer" in add["powershell"]
    assert remove["kind"] == "directory.remove_values" and remove["removed"] == HV02_VALUES and remove["added"] == []
    assert (window["before"], window["after"], window["expires"] is not None) == (["Kerberos"], ["CredSSP"], True)
    assert [w["host"] for w in doc["credssp_windows"]] == ["HV04"]
    failed, moved = doc["verification"]
    assert (failed["ok"], "0x8009030E" in failed["error"]) == (False, True)
    assert (moved["vm"], moved["source"], moved["destination"], moved["ok"], moved["verified"]) == (
        "APP01", "HV01", "HV02", True, True)
    assert doc["summary"] == {"errors": 1, "warnings": 0, "applied": 3, "reconciled": 0, "failed": 0, "in_doubt": 0,
                              "intent": 0, "rollbacks": 0, "moves_ok": 1, "moves_failed": 1}


def test_markdown_report_renders_the_same_content(worked_lab, tmp_path):
    assert worked_lab.run("rollback", "--last", "--yes", "--reason", "CHG-99 close").returncode == 0
    out = tmp_path / "record.md"
    r = worked_lab.run("report", "--format", "md", "--out", str(out))
    assert r.returncode == 0, r.stderr
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# lmdoctor change record — DEMO")
    for heading in ("## Findings", "## Changes (from the journal)", "## CredSSP windows", "## Verification (test Move-VM)"):
        assert heading in text
    assert "No findings." in text  # the rollback closed the window: the cluster is healthy
    assert "None open." in text
    assert "CHG-1234 \\| KCD for HV01→HV02" in text  # a pipe in a reason cannot break the table
    assert "+ cifs" not in text and "cifs/HV02.contoso.local" in text
    assert "(rollback of " in text and "CHG-99 close" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "APP01" in line]
    assert len(rows) == 2 and "FAILED" in rows[0] and "| OK | True |" in rows[1]
    assert "4 applied" in text and "1 of them rollbacks" in text and "Test moves: 1 OK, 1 failed" in text


def test_report_to_stdout_without_reading_the_cluster(worked_lab):
    r = worked_lab.run("report", "--format", "json", "--no-check")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["findings"] == [] and doc["domain"] is None and len(doc["changes"]) == 3


def test_report_is_allowed_read_only_and_writes_only_the_report(worked_lab, tmp_path):
    before = worked_lab.files()
    out = tmp_path / "ro.md"
    r = worked_lab.run("report", "--out", str(out), "--read-only")
    assert r.returncode == 0 and out.exists()
    assert worked_lab.files() == before


def test_report_to_an_unwritable_place_is_one_clear_line(worked_lab, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = worked_lab.run("report", "--out", str(blocker / "sub" / "r.md"))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith("lmdoctor: ") and "Traceback" not in r.stderr


def test_report_over_a_damaged_journal_refuses_and_writes_no_report(worked_lab, tmp_path):
    journal = worked_lab.root / "journal.jsonl"
    journal.write_bytes(journal.read_bytes()[:-30])
    before = worked_lab.files()
    out = tmp_path / "r.json"
    r = worked_lab.run("report", "--format", "json", "--out", str(out))
    assert r.returncode == 2 and "line 6" in r.stderr and "journal.jsonl" in r.stderr
    assert not out.exists() and worked_lab.files() == before


async def test_console_test_moves_are_logged_for_the_report(tmp_path):
    from lmdoctor.services.storage import move_log as moves
    from lmdoctor.tui.messages import OpenMigrate
    from scripts.console_scenes import confirm_move, make_app, settle

    app = make_app(tmp_path / "lab", "healthy")
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, until=lambda: app.snapshot is not None)
        app.post_message(OpenMigrate("APP01", "HV02"))
        await settle(pilot)
        await confirm_move(pilot, "CHG-77 console move")
    (record,) = moves.history(app.session.journal)
    assert (record.result.vm, record.result.destination, record.result.ok, record.result.verified) == (
        "APP01", "HV02", True, True)
    assert record.reason == "CHG-77 console move"
