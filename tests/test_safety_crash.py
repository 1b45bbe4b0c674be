"""Crashes between the journal's intent line and the write's outcome: never a silent gap.

The process dies (an exception that escapes, or SIGKILL in a real subprocess) after the intent is
on disk; the next run reads the object back and settles the change as landed or not landed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

import pytest

from lmdoctor.services.backends.directory.base import DirectoryError
from lmdoctor.services.backends.lab.directory import LabDirectory
from lmdoctor.services.operations.remediation import Remediator
from lmdoctor.services.storage.journal import Journal
from tests.support.cli_lab import REPO, Lab

DELEGATE = "msDS-AllowedToDelegateTo"
HV01 = "CN=HV01,CN=Computers,DC=contoso,DC=local"
HV02_VALUES = {"cifs/HV02", "cifs/HV02.contoso.local", "Microsoft Virtual System Migration Service/HV02",
               "Microsoft Virtual System Migration Service/HV02.contoso.local"}


def journal_lines(lab: Lab) -> list[dict]:
    path = lab.root / "journal.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def fix_previews(session):
    from lmdoctor.services.domain.diagnosis import diagnose
    from lmdoctor.services.operations.inventory import take_snapshot

    previews, purge = [], []
    for f in diagnose(take_snapshot(session.directory, session.hosts, session.cluster)):
        if f.fix:
            previews += session.remediator.preview(f.fix)
            purge += f.fix.purge_hosts
    return previews, purge


@pytest.mark.parametrize("lands", [False, True], ids=["dies-before-the-write", "dies-after-the-write"])
def test_exception_after_the_intent_leaves_an_in_doubt_entry_that_the_next_run_settles(lab_session, lands):
    s = lab_session("seed")
    previews, purge = fix_previews(s)
    real_add = s.directory.add_values

    def crash(dn, attribute, values):
        if lands:
            real_add(dn, attribute, values)
        raise KeyboardInterrupt  # escapes every handler, as a crash or Ctrl-C would

    s.directory.add_values = crash
    with pytest.raises(KeyboardInterrupt):
        s.remediator.apply(previews, "CHG-crash", purge)
    entries = s.journal.entries()
    assert [e.state for e in entries] == ["intent"]  # on disk before the write was sent
    assert entries[0].reason == "CHG-crash" and set(entries[0].after) - set(entries[0].before) == HV02_VALUES
    assert [e.change_id for e in s.journal.in_doubt()] == [entries[0].change_id]

    from datetime import datetime, timezone

    from lmdoctor.services.operations import reconcile

    said: list[str] = []
    fresh = Remediator(LabDirectory(s.directory.store), s.hosts, Journal(s.journal.path))
    reconcile.settle(fresh, datetime.now(timezone.utc), said.append)
    (settled,) = [e for e in fresh.journal.entries() if e.seq == 2]
    assert settled.change_id == entries[0].change_id
    assert settled.state == ("reconciled" if lands else "failed")
    assert ("landed" if lands else "did not land") in said[0]
    assert fresh.journal.in_doubt() == []
    assert [e.change_id for e in fresh.undoable()] == ([entries[0].change_id] if lands else [])


def test_write_error_with_the_object_unreadable_is_journaled_in_doubt_and_stops_the_batch(lab_session, monkeypatch):
    s = lab_session("seed")
    previews, purge = fix_previews(s)
    real_add = s.directory.add_values

    def lost_reply(dn, attribute, values):
        real_add(dn, attribute, values)  # the DC applied it, then the connection broke
        monkeypatch.setattr(s.directory, "read_values", lambda *_a: (_ for _ in ()).throw(DirectoryError("DC down")))
        raise DirectoryError("cannot reach the domain controller: connection reset")

    s.directory.add_values = lost_reply
    notes: list[str] = []
    outcome = s.remediator.apply(previews, "CHG-1", purge, notify=notes.append)
    assert not outcome.ok and outcome.applied == [] and len(outcome.in_doubt) == 1
    assert [e.state for e in s.journal.entries()] == ["intent", "in_doubt"]
    assert "cannot read back" in outcome.in_doubt[0].error and "connection reset" in outcome.in_doubt[0].error
    assert any(n.startswith("IN DOUBT") for n in notes)
    assert outcome.purged == []  # nothing confirmed: no purge
    monkeypatch.undo()
    (settled,) = s.remediator.reconcile()  # the DC answers again
    assert settled.state == "reconciled" and set(settled.read_back) >= HV02_VALUES


def test_write_error_whose_change_landed_is_recorded_as_applied(lab_session):
    s = lab_session("seed")
    previews, purge = fix_previews(s)
    real_add = s.directory.add_values

    def lost_reply(dn, attribute, values):
        real_add(dn, attribute, values)
        raise DirectoryError("cannot reach the domain controller: reply lost")

    s.directory.add_values = lost_reply
    outcome = s.remediator.apply(previews, "CHG-1", purge)
    assert outcome.ok and len(outcome.applied) == 2
    assert any("reply lost" in m and "landed" in m for m in outcome.messages)


KILLER = textwrap.dedent("""
    import os, signal, sys
    from lmdoctor.cli import commands as cli
    from lmdoctor.services.backends.lab.directory import LabDirectory
    real = LabDirectory._modify
    calls = []
    def modify(self, dn, changes):
        calls.append(dn)
        if len(calls) == int(sys.argv[2]):
            if sys.argv[3] == "after":
                real(self, dn, changes)
            os.kill(os.getpid(), signal.SIGKILL)
        real(self, dn, changes)
    LabDirectory._modify = modify
    sys.exit(cli.main(["fix", "--demo", "--lab-dir", sys.argv[1], "--finding", "delegation.missing:HV01:HV02",
                       "--finding", "delegation.wrong_object:HV02:HV02", "--yes", "--reason", "CHG-kill"]))
""")


@pytest.mark.parametrize("when", ["before", "after"])
def test_sigkill_during_the_second_write_then_the_next_run_settles_and_converges(lab, when):
    """A real process killed with SIGKILL on its second LDAP modify: the first change is applied,
    the second is an intent without outcome; the next run settles it, and fixing again converges."""
    r = subprocess.run([sys.executable, "-c", KILLER, str(lab.root), "2", when], cwd=REPO, env=lab.env,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert r.returncode == -signal.SIGKILL, r.stderr
    lines = journal_lines(lab)
    assert [e["state"] for e in lines] == ["intent", "applied", "intent"]
    assert lines[2]["action"]["kind"] == "directory.remove_values" and lines[2]["reason"] == "CHG-kill"

    r = lab.run("journal")
    assert r.returncode == 0 and "settled interrupted change #3" in r.stderr
    assert ("landed" if when == "after" else "did not land") in r.stderr
    assert journal_lines(lab)[3]["state"] == ("reconciled" if when == "after" else "failed")

    r = lab.run("fix", "--all", "--yes", "--reason", "CHG-kill again")
    assert r.returncode == 0, r.stderr
    if when == "before":  # the removal did not land; `fix --all` leaves it to an explicit choice
        assert {f["id"] for f in lab.check()[1]["findings"]} == {"delegation.wrong_object:HV02:HV02"}
        r = lab.run("fix", "--finding", "delegation.wrong_object:HV02:HV02", "--yes", "--reason", "CHG-kill again")
        assert r.returncode == 0, r.stderr
    code, doc = lab.check()
    assert code == 0 and doc["findings"] == []
    r = lab.run("rollback", "--all", "--yes", "--reason", "back out")
    assert r.returncode == 0, r.stderr
    assert {f["id"] for f in lab.check()[1]["findings"]} == {"delegation.missing:HV01:HV02",
                                                              "delegation.wrong_object:HV02:HV02"}


def test_cli_fix_whose_write_is_in_doubt_says_so_and_the_next_run_settles_it(lab, monkeypatch, capsys):
    from lmdoctor.cli import commands as cli

    broken = {"down": False}
    real_add, real_read = LabDirectory.add_values, LabDirectory.read_values

    def add_values(self, dn, attribute, values):
        broken["down"] = True
        raise DirectoryError("cannot reach the domain controller: connection reset by peer")

    def read_values(self, dn, attribute):
        if broken["down"]:
            raise DirectoryError("cannot reach the domain controller: connection refused")
        return real_read(self, dn, attribute)

    monkeypatch.setattr(LabDirectory, "add_values", add_values)
    monkeypatch.setattr(LabDirectory, "read_values", read_values)
    code = cli.main(["fix", "--demo", "--lab-dir", str(lab.root), "--all", "--yes", "--reason", "CHG-1"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "IN DOUBT: cannot reach the domain controller: connection reset by peer; cannot read back" in err
    assert "applied 0 change(s)" in err and "FAILED: cannot reach the domain controller" in err
    assert [e["state"] for e in journal_lines(lab)] == ["intent", "in_doubt"]

    monkeypatch.setattr(LabDirectory, "add_values", real_add)
    broken["down"] = False
    assert cli.main(["journal", "--demo", "--lab-dir", str(lab.root)]) == 0
    assert "settled interrupted change #1 as failed (read back: did not land)" in capsys.readouterr().err


RECORDER = textwrap.dedent("""
    import sys
    from lmdoctor.services.domain import fixes
    from lmdoctor.services.storage.journal import Journal
    from lmdoctor.services.domain.models import ChangePreview, ComputerAccount
    account = ComputerAccount(name="HV01", dn="CN=HV01,CN=Computers,DC=contoso,DC=local")
    preview = ChangePreview(action=fixes.add_delegation(account, ["cifs/HV02"], "HV02"), before=(), after=("cifs/HV02",))
    journal = Journal(sys.argv[1])
    for i in range(int(sys.argv[2])):
        journal.record(batch=sys.argv[3], change_id=f"{sys.argv[3]}-{i}", state="intent", preview=preview, reason="r")
""")


def test_concurrent_processes_get_unique_sequence_numbers_and_never_read_a_half_line(tmp_path):
    """Without the lock this run gives duplicate numbers and readers that hit another process's torn line."""
    path = tmp_path / "journal.jsonl"
    runs = [subprocess.Popen([sys.executable, "-c", RECORDER, str(path), "150", name], cwd=REPO)
            for name in ("a", "b", "c")]
    assert [p.wait(timeout=120) for p in runs] == [0, 0, 0]
    entries = Journal(path).entries()
    assert [e.seq for e in entries] == list(range(1, 451))  # unique, and in file order


# --- two lmdoctor processes writing to one lab at once --------------------------------------------------------

RACER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from lmdoctor.cli import commands as cli
    from lmdoctor.services.operations.remediation import Remediator
    real = Remediator.apply
    def apply(self, *args, **kwargs):
        # Both processes have read the lab and previewed their fix before either writes.
        Path(sys.argv[2]).touch()
        deadline = time.monotonic() + 60
        while not Path(sys.argv[3]).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return real(self, *args, **kwargs)
    Remediator.apply = apply
    sys.exit(cli.main(["fix", "--demo", "--lab-dir", sys.argv[1], *sys.argv[4:], "--yes", "--reason", "CHG-race"]))
""")


def race(lab: Lab, first: list[str], second: list[str]) -> list[subprocess.CompletedProcess]:
    """Run two real `lmdoctor fix` processes on one lab, released together once both have previewed."""
    ready = [lab.root.parent / "ready-a", lab.root.parent / "ready-b"]
    runs = [subprocess.Popen([sys.executable, "-c", RACER, str(lab.root), str(mine), str(other), *args],
                             cwd=REPO, env=lab.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
            for mine, other, args in ((ready[0], ready[1], first), (ready[1], ready[0], second))]
    done = []
    for p in runs:
        out, err = p.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return done


def test_two_processes_fixing_different_objects_at_once_keep_both_changes(tmp_path):
    """Each used to save its whole in-memory directory: one change vanished, yet both were journaled
    `applied`, and rolling back the lost one was refused. Now writers are serialised on the lab."""
    lab = Lab(tmp_path / "lab")
    lab.reset("kerberos-only")
    done = race(lab, ["--finding", "delegation.kerberos_only:HV01:-"], ["--finding", "delegation.kerberos_only:HV02:-"])
    assert [r.returncode for r in done] == [0, 0], [r.stderr for r in done]
    code, doc = lab.check()
    assert {f["id"] for f in doc["findings"]} == {"delegation.kerberos_only:HV03:-", "delegation.kerberos_only:HV04:-"}
    lines = journal_lines(lab)
    assert sorted(e["state"] for e in lines) == ["applied", "applied", "intent", "intent"]
    assert [e["seq"] for e in lines] == [1, 2, 3, 4]
    r = lab.run("rollback", "--all", "--yes", "--reason", "back out")
    assert r.returncode == 0 and "rolled back 2 change(s)" in r.stderr, r.stderr
    assert {f["id"] for f in lab.check()[1]["findings"]} == {f"delegation.kerberos_only:HV0{i}:-" for i in range(1, 5)}


def test_two_fix_all_at_once_journal_each_real_change_once(lab):
    """Both previewed the same change: the process that comes second finds it in place and neither
    writes nor journals it (two processes used to journal two `applied` changes for one real one)."""
    before = lab.check()[1]
    done = race(lab, ["--all"], ["--all"])
    assert [r.returncode for r in done] == [0, 0], [r.stderr for r in done]
    assert sum(r.stderr.count("already in place: ") for r in done) == 1
    lines = journal_lines(lab)
    assert [e["state"] for e in lines] == ["intent", "applied"]
    code, doc = lab.check()
    assert code == 0 and "delegation.missing:HV01:HV02" not in {f["id"] for f in doc["findings"]}
    r = lab.run("rollback", "--all", "--yes", "--reason", "back out")
    assert r.returncode == 0 and "rolled back 1 change(s)" in r.stderr, r.stderr
    assert lab.check()[1]["findings"] == before["findings"]
