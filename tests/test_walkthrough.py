"""The walkthrough's step logic on every lab scenario: driven to the end with real checks, fixes and moves."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone

import pytest

from lmdoctor.services.backends.lab.scenarios import SCENARIOS
from lmdoctor.services.domain.diagnosis import bulk_fixable, diagnose
from lmdoctor.services.domain.lines import Line
from lmdoctor.services.domain.models import AuthType, Finding, Severity, Snapshot
from lmdoctor.services.operations import credssp
from lmdoctor.services.operations import lab_admin as manage
from lmdoctor.services.operations.inventory import take_snapshot
from lmdoctor.services.operations.session import Session, open_demo
from lmdoctor.services.operations.walkthrough import (
    CREDSSP_MINUTES,
    STATE_FILE,
    STEPS,
    Step,
    StepResult,
    Walkthrough,
    state_path,
    undo_command,
)
from lmdoctor.services.storage import move_log as moves


def look(session: Session) -> tuple[Snapshot, list[Finding]]:
    snapshot = take_snapshot(session.directory, session.hosts, session.cluster, operator=session.operator)
    return snapshot, diagnose(snapshot)


def check(session: Session, wt: Walkthrough) -> StepResult:
    return wt.check(*look(session))


def apply_fixes(session: Session, findings: list[Finding], reason: str = "CHG-2001") -> None:
    """What FixScreen does once the user confirmed: preview every plan, apply them as one batch."""
    previews = [p for f in findings for p in session.remediator.preview(f.fix)]
    outcome = session.remediator.apply(previews, reason, [h for f in findings for h in f.fix.purge_hosts])
    assert outcome.ok, outcome.failed


def drive(session: Session, wt: Walkthrough) -> dict[Step, StepResult]:
    """Every step: run its check, act as the user would (fix, move), move on or skip. Returns the last results."""
    seen: dict[Step, StepResult] = {}
    while not wt.state.finished:
        result = check(session, wt)
        if result.step == Step.FIX and result.fixable:
            apply_fixes(session, result.fixable)
            result = check(session, wt)
        if result.step == Step.VERIFY:
            wt.run_verify(look(session)[0], "CHG-2001 verify")
            result = check(session, wt)
        seen[result.step] = result
        if not wt.advance(result):
            assert result.headline and result.found, f"{result.step} neither holds nor explains why"
            wt.skip()
    return seen


# The hostile scenario is about showing planted values, not a runbook fault: tests/tui/test_hostile.py walks it.
@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s != "hostile"])
def test_every_scenario_runs_to_the_end(lab_session, scenario):
    session = lab_session(scenario)
    _, initial = look(session)
    errors = [f for f in initial if f.severity == Severity.ERROR]
    manual = [f for f in errors if f.fix is None]
    fixable = bulk_fixable(initial)
    wt = Walkthrough(session)

    seen = drive(session, wt)

    assert list(seen) == list(STEPS) and wt.state.finished
    symptom = seen[Step.SYMPTOM]
    # a warning that a move addressed by one form of the name fails (fqdn-only) fails the test move too
    fails_by_name = errors or [f for f in initial if f.code == "delegation.missing"]
    assert (symptom.status == "problem") == bool(fails_by_name), symptom.found
    assert wt.state.symptom.ok == (not fails_by_name)
    assert any(c.startswith(f"Move-VM -Name {wt.state.test_move.vm}") and c.endswith("-WhatIf")
               for c in symptom.commands)
    assert seen[Step.CREDSSP].status == "optional" and wt.state.outcomes[Step.CREDSSP] == "done"
    assert bool(wt.changes()) == any(f.fix.actions for f in fixable)  # a ticket purge alone writes nothing
    if manual:
        # lmdoctor has no automatic fix: the Fix step says what to do by hand; the move still fails, with why.
        fix = seen[Step.FIX]
        assert fix.status == "manual" and wt.state.outcomes[Step.FIX] == "skipped"
        assert all(f.remedy in "\n".join(line.text for line in fix.found) for f in manual)
        assert not wt.state.verify.ok and wt.state.outcomes[Step.VERIFY] == "skipped"
        assert wt.state.verify.cause == wt.state.symptom.cause
        assert any(line.text.startswith("Still wrong:") for line in seen[Step.VERIFY].found)
    else:
        assert wt.state.outcomes[Step.FIX] == "done"
        assert wt.state.verify.ok and wt.state.verify.verified and not wt.state.verify.what_if
        vm, dst = wt.state.test_move.vm, wt.state.test_move.destination
        assert session.hosts.get_vm(dst, vm) is not None
        assert all(wt.state.outcomes[s] == "done" for s in STEPS)
        assert not [f for f in look(session)[1] if f.severity == Severity.ERROR]


def test_advance_refuses_until_the_condition_holds(lab_session):
    session = lab_session("seed")
    wt = Walkthrough(session)
    for _ in range(4):  # Symptom … Diagnosis only look
        assert wt.advance(check(session, wt))
    fix = check(session, wt)
    assert wt.current == Step.FIX and not fix.met and fix.fixable
    assert "Set-ADComputer -Identity 'HV01' -Add" in "\n".join(fix.commands)
    assert any("klist.exe purge -li 0x3e7" in c for c in fix.commands)
    assert not wt.advance(fix) and wt.current == Step.FIX
    stale = check(session, wt)
    wt.skip()
    assert wt.current == Step.CREDSSP and wt.state.outcomes[Step.FIX] == "skipped"
    assert not wt.advance(stale)  # a result for another step never moves the walkthrough


def test_progress_is_resumed_and_holds_no_secret(lab_session, tmp_path):
    session = lab_session("seed", lab_dir=tmp_path / "lab")
    wt = Walkthrough(session)
    for _ in range(3):
        wt.advance(check(session, wt))
    assert wt.current == Step.DIAGNOSIS
    saved = json.loads((tmp_path / "lab" / STATE_FILE).read_text(encoding="utf-8"))
    assert saved["current"] == "diagnosis" and saved["test_move"] == {"vm": "APP01", "source": "HV01",
                                                                       "destination": "HV02"}
    assert "password" not in json.dumps(saved).lower()

    again = Walkthrough(open_demo(tmp_path / "lab", step_delay=0))
    assert again.current == Step.DIAGNOSIS and again.state.test_move == wt.state.test_move

    manage.reset(tmp_path / "lab", "kerberos-only")  # another scenario: start over
    assert Walkthrough(open_demo(tmp_path / "lab", step_delay=0)).current == Step.SYMPTOM


def test_credssp_window_is_time_boxed_and_rollback_waits_for_it(lab_session):
    session = lab_session("seed")
    wt = Walkthrough(session)
    while wt.current != Step.CREDSSP:
        result = check(session, wt)
        if result.fixable:
            apply_fixes(session, result.fixable)
            result = check(session, wt)
        assert wt.advance(result)
    assert "Credential Guard" in "\n".join(line.text for line in check(session, wt).found)
    now = datetime.now(timezone.utc)
    assert wt.credssp_hosts(look(session)[0]) == ["HV01", "HV02"]
    outcomes = wt.open_credssp(look(session)[0], "CHG-2002 CredSSP window", now)
    assert all(o.ok for o in outcomes)
    windows = credssp.windows(session.remediator)
    assert sorted(w.host for w in windows) == ["HV01", "HV02"]
    assert {w.expires for w in windows} == {now + timedelta(minutes=CREDSSP_MINUTES)}
    snapshot, _ = look(session)
    assert {snapshot.node(h).host.settings.auth_type for h in ("HV01", "HV02")} == {AuthType.CREDSSP}
    assert Line("warn", "A CredSSP window is open on HV01, HV02.") in check(session, wt).found
    assert wt.advance(check(session, wt))  # optional either way

    wt.run_verify(look(session)[0], "CHG-2001 verify")  # a remotely started move cannot use CredSSP
    verify = check(session, wt)
    assert not verify.met and any("run Move-VM in a session on HV01" in line.text for line in verify.found)
    logged = moves.history(session.journal)[-1]  # the verification log has it, with the reason
    assert (logged.result, logged.reason) == (wt.state.verify, "CHG-2001 verify")
    wt.skip()
    rollback = check(session, wt)
    assert not rollback.met and "CredSSP window on HV01, HV02 is still open" in rollback.headline
    assert "Set-VMHost -ComputerName HV02 -VirtualMachineMigrationAuthenticationType Kerberos" in rollback.commands

    assert wt.close_credssp("CHG-2002 close the window").ok
    rollback = check(session, wt)
    assert rollback.met and not credssp.windows(session.remediator)
    snapshot, _ = look(session)
    assert {snapshot.node(h).host.settings.auth_type for h in ("HV01", "HV02")} == {AuthType.KERBEROS}
    assert any("Set-ADComputer -Identity 'HV01' -Remove" in c for c in rollback.commands)


def test_undo_commands_invert_each_change(lab_session):
    session = lab_session("kerberos-only")
    _, findings = look(session)
    apply_fixes(session, [f for f in findings if f.source == "HV01"])
    (entry,) = session.remediator.undoable()
    assert undo_command(entry) == "Set-ADAccountControl -Identity 'HV01$' -TrustedToAuthForDelegation $false"


def test_a_real_cluster_keeps_its_progress_in_the_data_dir(lab_session, isolated_dirs):
    lab = lab_session("seed")
    real = dataclasses.replace(lab, demo=False, lab_dir=None, scenario=None, label="prod · contoso.local")
    assert state_path(real) == isolated_dirs["data"] / "walkthrough" / "HVCLUSTER.json"
    wt = Walkthrough(real)
    assert wt.advance(check(real, wt))
    assert Walkthrough(real).current == Step.ENVIRONMENT
    (isolated_dirs["data"] / "walkthrough" / "HVCLUSTER.json").write_text("{not json", encoding="utf-8")
    assert Walkthrough(real).current == Step.SYMPTOM  # a damaged file starts over instead of failing


def test_triage_of_a_pair_counts_the_vms_on_smb_shares(lab_session):
    """smb-storage: HV01 → HV02 has every VSMS/cifs value, but neither end may delegate to cifs/FS01 where
    APP01 lives, so the pair view reports a problem and points at the storage findings."""
    session = lab_session("smb-storage")
    wt = Walkthrough(session)
    for _ in range(2):  # Symptom, Environment
        assert wt.advance(check(session, wt))
    triage = check(session, wt)
    assert wt.current == Step.TRIAGE and triage.status == "problem"
    pair = f"{wt.state.test_move.source} → {wt.state.test_move.destination}"
    assert triage.found[0].text.startswith(f"{pair}: cifs + VSMS, any protocol; VMs on SMB shares (APP01 on FS01)")
    for node in (wt.state.test_move.source, wt.state.test_move.destination):
        assert any(line.kind == "fail" and line.text.startswith(f"VMs on SMB shares (APP01 on FS01): {node} lacks "
                                                                 "cifs/FS01, cifs/fs01.contoso.local")
                   and f"storage.smb_delegation:{node}:FS01" in line.text for line in triage.found), triage.found
