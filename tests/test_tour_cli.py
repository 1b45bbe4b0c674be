"""`lmdoctor tour` through the CLI with no terminal, as a scheduler runs it: preview, reason and confirmation,
the per-hop table, JSON, exit codes, resume."""

from __future__ import annotations

import json

from lmdoctor.services.backends.lab.state import LabStore
from tests.support.cli_lab import Lab


def _where(lab: Lab, vm: str) -> list[str]:
    hosts = LabStore(lab.root).load_hosts().hosts
    return [name for name, h in hosts.items() if any(v.name == vm for v in h.vms)]


def test_without_yes_and_without_a_terminal_the_tour_is_refused_and_nothing_moves(lab: Lab) -> None:
    before = lab.files()
    r = lab.run("tour", "--vm", "APP01", "--reason", "CHG-5")
    assert r.returncode == 2 and r.stdout == ""
    assert "refusing to write without confirmation: no terminal to ask; pass --yes" in r.stderr
    assert "1. HV01 → HV02" in r.stderr and "4. HV04 → HV01" in r.stderr  # the hops were previewed first
    r = lab.run("tour", "--vm", "APP01", "--yes")
    assert r.returncode == 2 and "a reason is required for every write" in r.stderr
    assert lab.files() == before and _where(lab, "APP01") == ["HV01"]


def test_bad_input_and_read_only_are_refused(lab: Lab) -> None:
    r = lab.run("tour", "--vm", "APP*", "--reason", "x", "--yes")
    assert r.returncode == 2 and "wildcard" in r.stderr
    r = lab.run("tour", "--vm", "NOPE01", "--reason", "x", "--yes")
    assert r.returncode == 2 and "lmdoctor: VM 'NOPE01' was not found on any of: HV01, HV02, HV03, HV04" in r.stderr
    r = lab.run("tour", "--vm", "APP01", "--reason", "x", "--yes", "--read-only")
    assert r.returncode == 2 and "read-only: refusing a live move" in r.stderr
    r = lab.run("tour", "--resume", "--yes")
    assert r.returncode == 2 and "no unfinished tour to resume" in r.stderr


def test_a_failed_hop_exits_1_with_the_table_the_exact_error_and_where_the_vm_is(lab: Lab) -> None:
    r = lab.run("tour", "--vm", "APP01", "--reason", "CHG-5 tour", "--yes")
    assert r.returncode == 1, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("Tour ") and lines[0].endswith("of APP01 (cycle, 4 hops, reason: CHG-5 tour)")
    assert lines[1].split() == ["#", "From", "To", "Result", "Duration", "Blackout", "Transferred", "Throughput"]
    assert lines[2].split()[:5] == ["1", "HV01", "HV02", "FAILED", "(pre-flight)"]
    assert [line.split()[:4] for line in lines[3:6]] == [["2", "HV02", "HV03", "not"], ["3", "HV03", "HV04", "not"],
                                                         ["4", "HV04", "HV01", "not"]]
    assert ("hop 1 HV01 → HV02 failed: Virtual machine migration operation for 'APP01' failed at migration source "
            "'HV01'.") in r.stdout
    assert "No credentials are available in the security package (0x8009030E)." in r.stdout
    assert "APP01 is on HV01." in r.stdout and "resume with `lmdoctor tour --resume`" in r.stdout
    assert "hop 1/4: HV01 → HV02 …" in r.stderr  # progress on stderr, the table on stdout
    assert _where(lab, "APP01") == ["HV01"]


def test_fix_then_resume_json_exits_0_and_the_report_lists_the_tour(lab: Lab) -> None:
    assert lab.run("tour", "--vm", "APP01", "--reason", "CHG-6 tour", "--yes").returncode == 1
    assert lab.run("fix", "--all", "--reason", "CHG-6 fix", "--yes").returncode == 0
    r = lab.run("tour", "--resume", "--yes", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["ok"] is True and doc["status"] == "done" and doc["location"] == "HV01"
    assert [(h["source"], h["destination"], h["ok"]) for h in (x["move"] for x in doc["results"])] == [
        ("HV01", "HV02", False), ("HV01", "HV02", True), ("HV02", "HV03", True), ("HV03", "HV04", True),
        ("HV04", "HV01", True)]
    assert all(x["move"]["bytes_transferred"] == 8 << 30 and x["move"]["blackout_ms"] == 68.0
               for x in doc["results"][1:])
    assert [row["Result"] for row in doc["rows"]] == ["FAILED (pre-flight)"] + ["passed"] * 4
    assert "Resuming tour" in r.stderr and _where(lab, "APP01") == ["HV01"]
    md = lab.run("report", "--no-check")
    assert md.returncode == 0 and f"Tour `{doc['id']}` of APP01 — reason: CHG-6 tour" in md.stdout
    assert "Test moves: 4 OK, 1 failed." in md.stdout
    again = lab.run("tour", "--vm", "APP01", "--reason", "CHG-6 again", "--yes")
    assert again.returncode == 0 and "Tour complete: 4 of 4 hop(s) passed." in again.stdout
    assert "failed" not in again.stdout  # a new tour: the earlier tour's failure is not shown


def test_ctrl_c_stops_after_the_current_hop_and_resume_finishes(lab: Lab) -> None:
    """The first Ctrl-C (SIGINT) lets the running hop finish, saves the tour as stopped and exits 2; --resume
    continues from the VM's node."""
    import os
    import signal
    import subprocess
    import sys

    from tests.support.cli_lab import REPO

    lab.reset("healthy")
    process = subprocess.Popen(
        [sys.executable, "-m", "lmdoctor.cli.main", "tour", "--demo", "--lab-dir", str(lab.root), "--vm", "APP01",
         "--reason", "CHG-7", "--yes"], cwd=REPO, env=os.environ.copy(), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    seen = []
    for line in process.stderr:  # progress comes on stderr as it happens
        seen.append(line)
        if line.startswith("hop 1/4"):
            process.send_signal(signal.SIGINT)
            break
    out, err = process.communicate(timeout=60)
    err = "".join(seen) + err
    assert process.returncode == 2, err
    assert "stopping after the current hop" in err and "hop 1: passed" in err and "hop 2/4" not in err
    assert "Tour stopped: 3 hop(s) left; resume with `lmdoctor tour --resume`." in out
    assert "APP01 is on HV02." in out and _where(lab, "APP01") == ["HV02"]
    r = lab.run("tour", "--resume", "--yes")
    assert r.returncode == 0, r.stderr
    assert "Tour complete: 4 of 4 hop(s) passed." in r.stdout and _where(lab, "APP01") == ["HV01"]


def test_every_pair_with_keep_going_covers_the_other_pairs_and_exits_1(lab: Lab, monkeypatch, capsys) -> None:
    """--pairs all --keep-going on the seed lab: the one pair without delegation fails, the tour goes on from the
    VM's node, a hop whose destination the VM is already on is shown as skipped, and every other ordered pair is
    moved over (in-process, the lab without its step delay)."""
    import functools

    from lmdoctor.cli.commands import main
    from lmdoctor.services.operations import session

    monkeypatch.setattr(session, "open_demo", functools.partial(session.open_demo, step_delay=0))
    code = main(["tour", "--demo", "--lab-dir", str(lab.root), "--vm", "APP01", "--pairs", "all", "--keep-going",
                 "--reason", "CHG-8", "--yes", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["status"] == "done" and doc["mode"] == "all" and len(doc["hops"]) == 12
    moved = [(x["move"]["source"], x["move"]["destination"], x["move"]["ok"]) for x in doc["results"]]
    assert [m for m in moved if not m[2]] == [("HV01", "HV02", False)]
    passed = {(s, d) for s, d, ok in moved if ok}
    every = {(a, b) for a in ("HV01", "HV02", "HV03", "HV04") for b in ("HV01", "HV02", "HV03", "HV04") if a != b}
    # the failed pair, and the pair back that the VM (still on HV01) skipped; every other ordered pair moved and verified
    assert every - passed == {("HV01", "HV02"), ("HV02", "HV01")}
    assert doc["skipped"] == [1] and doc["rows"][1]["Result"] == "skipped: VM already on HV01"
    assert [r["Result"] for r in doc["rows"]].count("passed") == 10 and len(doc["rows"]) == 12
    assert doc["location"] == "HV01"
