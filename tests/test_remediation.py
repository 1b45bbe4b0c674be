"""Remediation on the lab: preview, journaled apply with read-back, purge, rollback and reconcile."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmdoctor.services.backends.directory.base import DirectoryError
from lmdoctor.services.backends.lab.state import LabStore
from lmdoctor.services.domain import fixes, replmeta
from lmdoctor.services.domain.diagnosis import diagnose
from lmdoctor.services.domain.models import (
    UAC_TRUSTED_FOR_DELEGATION,
    UAC_TRUSTED_TO_AUTH_FOR_DELEGATION,
    UAC_WORKSTATION_TRUST_ACCOUNT,
    AuthType,
    ChangePreview,
    Finding,
    FixPlan,
)
from lmdoctor.services.domain.spn import delegation_targets
from lmdoctor.services.operations.inventory import take_snapshot
from lmdoctor.services.operations.remediation import ReadOnlyError, RemediationError, RollbackConflict
from lmdoctor.services.operations.session import Session

DELEGATE = "msDS-AllowedToDelegateTo"
UAC = "userAccountControl"
HV02_TARGETS = delegation_targets("HV02", "HV02.contoso.local")
DONT_EXPIRE_PASSWORD = 0x10000


def dn(name: str) -> str:
    return f"CN={name},CN=Computers,DC=contoso,DC=local"


def findings(session: Session) -> list[Finding]:
    return diagnose(take_snapshot(session.directory, session.hosts, session.cluster))


def finding(session: Session, code: str, source: str | None = None) -> Finding:
    matches = [f for f in findings(session) if f.code == code and (source is None or f.source == source)]
    assert len(matches) == 1, [f.id for f in findings(session)]
    return matches[0]


def values(session: Session, name: str, attribute: str = DELEGATE) -> list[str]:
    return sorted(session.directory.read_values(dn(name), attribute))


def uac(session: Session, name: str) -> int:
    return int(session.directory.read_values(dn(name), UAC)[0])


def state_files(session: Session) -> dict[str, bytes | None]:
    root = Path(session.lab_dir)
    return {name: (root / name).read_bytes() if (root / name).exists() else None
            for name in ("directory.json", "hosts.json", "journal.jsonl")}


def entry_without_stamp(session: Session, name: str) -> dict:
    """An entry without what the DC stamps on every write: whenChanged and the replication metadata."""
    entry = dict(LabStore(session.lab_dir).load_entries()[dn(name)])
    entry.pop("whenChanged")
    entry.pop(replmeta.XML_ATTRIBUTE, None)
    return entry


def change_times(session: Session, name: str) -> dict:
    return replmeta.from_xml(LabStore(session.lab_dir).load_entries()[dn(name)].get(replmeta.XML_ATTRIBUTE, []))


def seed_fix(session: Session) -> tuple[list[ChangePreview], list[str]]:
    """Every fix the seed offers (the add and the optional removal), previewed one per finding in diagnosis order."""
    previews: list[ChangePreview] = []
    purge: list[str] = []
    for f in findings(session):
        if f.fix:
            previews += session.remediator.preview(f.fix)
            purge += f.fix.purge_hosts
    return previews, purge


# --- preview --------------------------------------------------------------------------------


def test_preview_shows_before_and_after(lab_session):
    s = lab_session("seed")
    hv01_before = tuple(s.directory.read_values(dn("HV01"), DELEGATE))
    hv02_before = tuple(s.directory.read_values(dn("HV02"), DELEGATE))
    (add,) = s.remediator.preview(finding(s, "delegation.missing").fix)
    assert add.before == hv01_before
    assert add.after == hv01_before + HV02_TARGETS
    assert not add.no_op
    (remove,) = s.remediator.preview(finding(s, "delegation.wrong_object").fix)
    assert remove.before == hv02_before
    assert set(remove.after) == set(hv02_before) - set(HV02_TARGETS)
    assert len(remove.after) == len(hv02_before) - 4


def test_preview_writes_nothing(lab_session):
    s = lab_session("seed")
    before = state_files(s)
    seed_fix(s)
    assert state_files(s) == before


def test_preview_of_a_value_already_present_is_a_no_op(lab_session):
    s = lab_session("healthy")
    account = s.directory.read_computers(["HV01"])[0]
    plan = FixPlan(summary="re-add", actions=(fixes.add_delegation(account, HV02_TARGETS, "HV02"),))
    (p,) = s.remediator.preview(plan)
    assert p.no_op
    before = state_files(s)
    outcome = s.remediator.apply([p], "CHG-1")
    assert outcome.ok and outcome.applied == []
    assert state_files(s) == before  # nothing written, nothing journaled, no purge


# --- apply ----------------------------------------------------------------------------------


def test_apply_journals_intent_then_applied_with_read_back(lab_session):
    s = lab_session("seed")
    previews, purge = seed_fix(s)
    outcome = s.remediator.apply(previews, "CHG-1", purge)
    assert outcome.ok and len(outcome.applied) == 2 and outcome.failed == []
    entries = s.journal.entries()
    assert [e.state for e in entries] == ["intent", "applied", "intent", "applied"]
    assert [e.seq for e in entries] == [1, 2, 3, 4]
    for intent, applied, preview in zip(entries[::2], entries[1::2], previews, strict=True):
        assert intent.change_id == applied.change_id
        assert intent.batch == applied.batch == outcome.batch
        assert intent.reason == applied.reason == "CHG-1"
        assert intent.read_back is None
        assert sorted(applied.read_back) == sorted(preview.after)
        assert (intent.before, intent.after) == (preview.before, preview.after)
        assert intent.action == preview.action
    assert entries[0].change_id != entries[2].change_id


def test_apply_adds_only_missing_values_and_leaves_the_rest(lab_session):
    s = lab_session("seed")
    hv01_times = change_times(s, "HV01")  # as the scenario left them (a month ago): whole seconds
    # an unrelated pre-existing value must survive
    s.directory.add_values(dn("HV01"), DELEGATE, ["cifs/FS01.contoso.local"])
    hv01_before, hv02_before = values(s, "HV01"), values(s, "HV02")
    others = {n: entry_without_stamp(s, n) for n in ("HV03", "HV04", "HVCLUSTER")}
    hv01_entry = entry_without_stamp(s, "HV01")
    previews, purge = seed_fix(s)
    assert s.remediator.apply(previews, "CHG-1", purge).ok
    assert values(s, "HV01") == sorted(hv01_before + list(HV02_TARGETS))
    assert values(s, "HV02") == sorted(set(hv02_before) - set(HV02_TARGETS))
    assert {n: entry_without_stamp(s, n) for n in others} == others
    after = entry_without_stamp(s, "HV01")
    assert {k: v for k, v in after.items() if k != DELEGATE} == {k: v for k, v in hv01_entry.items() if k != DELEGATE}
    times = change_times(s, "HV01")  # the metadata records changes of the delegation list only
    assert {k for k in times if times[k] != hv01_times.get(k)} == {DELEGATE}


def test_apply_purges_tickets_of_the_changed_sources(lab_session):
    s = lab_session("seed")
    store = LabStore(s.lab_dir)
    issued_before = store.load_hosts().hosts["HV01"].tickets.issued
    previews, purge = seed_fix(s)
    notes: list[str] = []
    outcome = s.remediator.apply(previews, "CHG-1", purge, notify=notes.append)
    assert outcome.purged == ["HV01", "HV02"]
    tickets = store.load_hosts().hosts["HV01"].tickets
    assert tickets.issued > issued_before
    assert set(HV02_TARGETS) <= set(tickets.allowed_to_delegate_to)
    assert any("klist purge -li 0x3e7 on HV01" in n for n in notes)
    assert not [f for f in findings(s) if f.code == "tickets.stale"]


def test_purge_only_plan_purges(lab_session):
    """tickets.stale has no directory change, only a purge: applying its plan must still purge."""
    s = lab_session("stale-tickets")
    f = finding(s, "tickets.stale", "HV01")
    assert f.fix.actions == ()
    outcome = s.remediator.apply(s.remediator.preview(f.fix), "CHG-2", f.fix.purge_hosts)
    assert outcome.purged == ["HV01"]
    assert [x.source for x in findings(s) if x.code == "tickets.stale"] == ["HV02"]


def test_uac_read_modify_write_keeps_other_bits(lab_session):
    s = lab_session("kerberos-only")
    s.directory.change_uac(dn("HV01"), DONT_EXPIRE_PASSWORD, 0)
    assert uac(s, "HV01") == UAC_WORKSTATION_TRUST_ACCOUNT | DONT_EXPIRE_PASSWORD
    f = finding(s, "delegation.kerberos_only", "HV01")
    (p,) = s.remediator.preview(f.fix)
    assert p.before == (str(UAC_WORKSTATION_TRUST_ACCOUNT | DONT_EXPIRE_PASSWORD),)
    outcome = s.remediator.apply([p], "CHG-3", f.fix.purge_hosts)
    assert outcome.ok
    assert uac(s, "HV01") == UAC_WORKSTATION_TRUST_ACCOUNT | DONT_EXPIRE_PASSWORD | UAC_TRUSTED_TO_AUTH_FOR_DELEGATION
    assert uac(s, "HV02") == UAC_WORKSTATION_TRUST_ACCOUNT  # only the chosen object


def test_directory_change_uac_sets_and_clears_only_the_given_bits(lab_session):
    s = lab_session("unconstrained")
    old = uac(s, "HV03")
    assert old & UAC_TRUSTED_FOR_DELEGATION
    new = s.directory.change_uac(dn("HV03"), DONT_EXPIRE_PASSWORD, UAC_TRUSTED_FOR_DELEGATION)
    assert new == uac(s, "HV03") == (old | DONT_EXPIRE_PASSWORD) & ~UAC_TRUSTED_FOR_DELEGATION
    assert s.directory.change_uac(dn("HV03"), 0, 0) == new  # no-op


def test_unconstrained_fix_clears_the_bit_and_sets_protocol_transition(lab_session):
    """Both actions of the plan change userAccountControl of one object; the second builds on the first."""
    s = lab_session("kerberos-only")
    s.directory.change_uac(dn("HV03"), UAC_TRUSTED_FOR_DELEGATION, 0)
    f = finding(s, "delegation.unconstrained", "HV03")
    assert len(f.fix.actions) == 2
    previews = s.remediator.preview(f.fix)
    assert [int(p.after[0]) for p in previews] == [
        UAC_WORKSTATION_TRUST_ACCOUNT, UAC_WORKSTATION_TRUST_ACCOUNT | UAC_TRUSTED_TO_AUTH_FOR_DELEGATION]
    outcome = s.remediator.apply(previews, "CHG-4", f.fix.purge_hosts)
    assert outcome.ok and len(outcome.applied) == 2
    assert uac(s, "HV03") == UAC_WORKSTATION_TRUST_ACCOUNT | UAC_TRUSTED_TO_AUTH_FOR_DELEGATION
    # and it rolls back to exactly where it was
    s.remediator.rollback(s.remediator.last_batch(), "undo")
    assert uac(s, "HV03") == UAC_WORKSTATION_TRUST_ACCOUNT | UAC_TRUSTED_FOR_DELEGATION


def test_two_findings_on_one_attribute_apply_in_one_run(lab_session):
    """HV01 lacks HV02's values and holds a value naming itself: two plans, one attribute (as `fix --all` runs)."""
    s = lab_session("seed")
    s.directory.add_values(dn("HV01"), DELEGATE, ["cifs/HV01.contoso.local"])
    original = values(s, "HV01")
    previews, purge = seed_fix(s)
    assert sum(p.action.target == dn("HV01") for p in previews) == 2
    outcome = s.remediator.apply(previews, "CHG-5", purge)
    assert outcome.ok and len(outcome.applied) == 3
    expected = sorted(set(original) - {"cifs/HV01.contoso.local"} | set(HV02_TARGETS))
    assert values(s, "HV01") == expected
    assert [f.id for f in findings(s)] == []
    s.remediator.rollback(s.remediator.undoable(), "undo")
    assert values(s, "HV01") == original


def test_apply_requires_a_reason(lab_session):
    s = lab_session("seed")
    previews, purge = seed_fix(s)
    before = state_files(s)
    for reason in ("", "   ", "\n"):
        with pytest.raises(RemediationError, match="reason"):
            s.remediator.apply(previews, reason, purge)
    assert state_files(s) == before


def test_read_only_refuses_every_write(lab_session):
    s = lab_session("seed", read_only=True)
    previews, purge = seed_fix(s)  # previewing is reading: allowed
    before = state_files(s)
    with pytest.raises(ReadOnlyError):
        s.remediator.apply(previews, "CHG-1", purge)
    with pytest.raises(ReadOnlyError):
        s.remediator.rollback([], "undo")
    assert state_files(s) == before


def test_stale_preview_is_refused(lab_session):
    s = lab_session("seed")
    previews, purge = seed_fix(s)
    s.directory.add_values(dn("HV01"), DELEGATE, ["cifs/FS01"])  # someone else changed HV01 meanwhile
    before = state_files(s)
    with pytest.raises(RemediationError, match="changed since the preview"):
        s.remediator.apply(previews, "CHG-1", purge)
    assert state_files(s) == before


def test_failed_write_is_journaled_and_stops_the_batch(lab_session, monkeypatch):
    s = lab_session("seed")
    previews, purge = seed_fix(s)

    def refuse(*_a, **_k):
        raise DirectoryError("insufficient access rights")

    monkeypatch.setattr(s.directory, "add_values", refuse)
    before_hv02 = values(s, "HV02")
    outcome = s.remediator.apply(previews, "CHG-1", purge)
    assert not outcome.ok and outcome.applied == [] and outcome.purged == []
    assert [e.state for e in s.journal.entries()] == ["intent", "failed"]
    assert "insufficient access rights" in outcome.failed[0].error
    assert values(s, "HV02") == before_hv02  # the second change was not sent


def test_read_back_mismatch_is_a_failure(lab_session, monkeypatch):
    s = lab_session("seed")
    previews, purge = seed_fix(s)
    monkeypatch.setattr(s.directory, "add_values", lambda *_a, **_k: None)  # a write that silently did nothing
    outcome = s.remediator.apply(previews, "CHG-1", purge)
    (failed,) = outcome.failed
    assert failed.state == "failed" and "read back differs" in failed.error
    assert failed.read_back == previews[0].before


# --- rollback -------------------------------------------------------------------------------


def test_rollback_restores_exact_prior_values_and_is_journaled(lab_session):
    s = lab_session("seed")
    hv01, hv02 = values(s, "HV01"), values(s, "HV02")
    previews, purge = seed_fix(s)
    applied = s.remediator.apply(previews, "CHG-1", purge)
    undo = s.remediator.undoable()
    assert [e.change_id for e in undo] == [e.change_id for e in applied.applied]
    notes: list[str] = []
    outcome = s.remediator.rollback(undo, "CHG-1 rollback", notify=notes.append)
    assert outcome.ok and len(outcome.applied) == 2
    assert values(s, "HV01") == hv01 and values(s, "HV02") == hv02
    entries = s.journal.entries()
    rollback_lines = entries[4:]
    assert [e.state for e in rollback_lines] == ["intent", "applied", "intent", "applied"]
    assert {e.rollback_of for e in rollback_lines} == {e.change_id for e in applied.applied}
    assert all(e.reason == "CHG-1 rollback" and e.batch == outcome.batch for e in rollback_lines)
    # newest change first
    assert rollback_lines[0].rollback_of == applied.applied[-1].change_id
    assert s.remediator.undoable() == [] and s.remediator.last_batch() == []
    assert sorted(outcome.purged) == ["HV01", "HV02"]
    assert [f.code for f in findings(s)] == ["delegation.missing", "delegation.wrong_object"]


def test_rollback_refuses_when_the_object_changed_and_writes_nothing(lab_session):
    s = lab_session("seed")
    previews, purge = seed_fix(s)
    s.remediator.apply(previews, "CHG-1", purge)
    s.directory.add_values(dn("HV02"), DELEGATE, ["cifs/FS01"])  # the newest change's object changed since
    before = state_files(s)
    with pytest.raises(RollbackConflict, match="changed since"):
        s.remediator.rollback(s.remediator.undoable(), "undo")
    assert state_files(s) == before


def test_rollback_conflict_on_an_older_change_writes_nothing_either(lab_session):
    """The conflict is on the first change of the batch; the newer one must not be rolled back alone."""
    s = lab_session("seed")
    previews, purge = seed_fix(s)
    s.remediator.apply(previews, "CHG-1", purge)
    s.directory.remove_values(dn("HV01"), DELEGATE, ["cifs/HV03"])
    before = state_files(s)
    with pytest.raises(RollbackConflict):
        s.remediator.rollback(s.remediator.undoable(), "undo")
    assert state_files(s) == before
    assert len(s.remediator.undoable()) == 2


def test_last_batch_and_undoable(lab_session):
    s = lab_session("seed")
    previews, purge = seed_fix(s)
    first = s.remediator.apply(previews, "CHG-1", purge)
    plan = FixPlan(summary="CredSSP window", actions=(fixes.set_auth_type("HV03", AuthType.CREDSSP),))
    second = s.remediator.apply(s.remediator.preview(plan), "CHG-2")
    assert [e.batch for e in s.remediator.undoable()] == [first.batch, first.batch, second.batch]
    assert [e.change_id for e in s.remediator.last_batch()] == [second.applied[0].change_id]
    assert LabStore(s.lab_dir).load_hosts().hosts["HV03"].settings.auth_type == AuthType.CREDSSP
    s.remediator.rollback(s.remediator.last_batch(), "close the window")
    assert LabStore(s.lab_dir).load_hosts().hosts["HV03"].settings.auth_type == AuthType.KERBEROS
    assert [e.batch for e in s.remediator.last_batch()] == [first.batch, first.batch]
    assert len(s.remediator.undoable()) == 2


def test_undoable_excludes_failed_changes(lab_session, monkeypatch):
    s = lab_session("seed")
    previews, purge = seed_fix(s)
    monkeypatch.setattr(s.directory, "add_values", lambda *_a, **_k: None)
    s.remediator.apply(previews, "CHG-1", purge)
    assert s.remediator.undoable() == []


# --- reconcile ------------------------------------------------------------------------------


def intent_for_hv01(s: Session) -> ChangePreview:
    (p,) = s.remediator.preview(finding(s, "delegation.missing").fix)
    s.journal.record(batch="crashed", change_id="c-intent", state="intent", preview=p, reason="CHG-9")
    return p


def test_reconcile_settles_a_write_that_landed(lab_session):
    s = lab_session("seed")
    p = intent_for_hv01(s)
    s.directory.add_values(dn("HV01"), DELEGATE, list(HV02_TARGETS))  # the process died after the write
    (settled,) = s.remediator.reconcile()
    assert (settled.state, settled.change_id, settled.batch) == ("reconciled", "c-intent", "crashed")
    assert sorted(settled.read_back) == sorted(p.after)
    assert s.journal.in_doubt() == []
    assert [e.change_id for e in s.remediator.undoable()] == ["c-intent"]
    s.remediator.rollback(s.remediator.undoable(), "undo")
    assert sorted(s.directory.read_values(dn("HV01"), DELEGATE)) == sorted(p.before)


def test_reconcile_settles_a_write_that_never_landed(lab_session):
    s = lab_session("seed")
    intent_for_hv01(s)
    (settled,) = s.remediator.reconcile()
    assert settled.state == "failed" and "before the write landed" in settled.error
    assert s.journal.in_doubt() == [] and s.remediator.undoable() == []


def test_reconcile_of_an_object_that_holds_other_values(lab_session):
    s = lab_session("seed")
    intent_for_hv01(s)
    s.directory.add_values(dn("HV01"), DELEGATE, ["cifs/HV02"])  # half of the change, or someone else's
    (settled,) = s.remediator.reconcile()
    assert settled.state == "failed" and "other values" in settled.error
    assert s.remediator.reconcile() == []  # settled once
