"""The delegation matrix: pair coverage and glyphs against the lab's definitions, last moves, pair/row/grid fixes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from lmdoctor.services.backends.lab.scenarios import NODES, build, fqdn
from lmdoctor.services.domain import matrix
from lmdoctor.services.domain.diagnosis import diagnose
from lmdoctor.services.domain.lines import Line
from lmdoctor.services.domain.models import (
    UAC_TRUSTED_FOR_DELEGATION,
    VSMS,
    MoveRecord,
    MoveResult,
    Snapshot,
)
from lmdoctor.services.domain.spn import delegation_targets, spn_key
from lmdoctor.services.operations.inventory import take_snapshot
from lmdoctor.services.operations.migration import MoveRequest, run_test_move
from lmdoctor.services.operations.session import Session
from tests.support.snapshots import synthetic

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)


def snapshot_of(session: Session) -> Snapshot:
    return take_snapshot(session.directory, session.hosts, session.cluster)


def test_seed_cells_follow_the_lab_definition(lab_session):
    lab = build("seed", NOW)
    grid = matrix.matrix(snapshot_of(lab_session("seed")))
    assert set(grid) == {(s, d) for s in NODES for d in NODES if s != d}
    for (src, dst), status in grid.items():
        have = {spn_key(v) for v in lab.computer(src).get("msDS-AllowedToDelegateTo", [])}
        expected = [v for v in delegation_targets(dst, fqdn(dst)) if spn_key(v) not in have]
        assert list(status.missing) == expected, (src, dst)
        assert status.protocol_transition
    hv01_hv02 = grid[("HV01", "HV02")]
    assert (hv01_hv02.vsms, hv01_hv02.cifs, hv01_hv02.coverage, matrix.tone(hv01_hv02)) == \
        ("missing", "missing", "missing", "error")
    assert [k for k, s in grid.items() if not s.ok] == [("HV01", "HV02")]


def test_glyphs_and_last_moves(lab_session):
    session = lab_session("seed")
    snapshot = snapshot_of(session)
    moves = matrix.last_moves(snapshot)
    assert moves == {("HV01", "HV02"): False}  # the seed's 21024 on HV01 names HV02
    grid = matrix.matrix(snapshot)
    assert matrix.glyph(grid[("HV01", "HV02")], moves.get(("HV01", "HV02"))) == "○○P✗"
    assert matrix.glyph(grid[("HV02", "HV01")], None) == "●●P·"

    apply(session, matrix.fix_findings(snapshot, [("HV01", "HV02")]))
    assert run_test_move(session.hosts, MoveRequest(vm="APP01", destination="HV02", source="HV01"), []).ok
    snapshot = snapshot_of(session)
    assert matrix.last_moves(snapshot)[("HV01", "HV02")] is True
    assert matrix.glyph(matrix.matrix(snapshot)[("HV01", "HV02")], True) == "●●P✓"


def test_test_moves_from_the_verification_log_count_when_newer(lab_session):
    session = lab_session("seed")
    snapshot = snapshot_of(session)
    failed_at = max(e.time for e in snapshot.node("HV01").host.events if e.event_id == 21024)

    def record(when, ok: bool, what_if: bool = False) -> MoveRecord:
        return MoveRecord(time=when, result=MoveResult(vm="APP01", source="HV01", destination="HV02",
                                                       what_if=what_if, ok=ok, verified=ok))

    assert matrix.last_moves(snapshot, [record(failed_at - timedelta(hours=1), True)]) == {("HV01", "HV02"): False}
    assert matrix.last_moves(snapshot, [record(failed_at + timedelta(minutes=5), True)]) == {("HV01", "HV02"): True}
    assert matrix.last_moves(snapshot, [record(failed_at + timedelta(minutes=5), True, what_if=True)]) == \
        {("HV01", "HV02"): False}  # a pre-flight is not a move


def test_partial_kerberos_only_and_unconstrained_cells():
    snap = synthetic(3, kerberos_only=[1])
    account = snap.nodes[0].account.model_copy(update={
        "allowed_to_delegate_to": (f"{VSMS}/N002", "cifs/N003", "cifs/N003.example.test",
                                   f"{VSMS}/N003", f"{VSMS}/N003.example.test")})
    snap = snap.model_copy(update={"nodes": (snap.nodes[0].model_copy(update={"account": account}),) + snap.nodes[1:]})
    grid = matrix.matrix(snap)
    partial = grid[("N001", "N002")]
    # cifs is missing by both names: a move fails whatever name it uses, an error as in the findings
    assert (partial.vsms, partial.cifs, partial.coverage, matrix.tone(partial)) == ("partial", "missing", "partial",
                                                                                  "error")
    assert matrix.glyph(partial, None) == "◐○P·"
    kerberos = grid[("N002", "N001")]
    assert matrix.glyph(kerberos, None) == "●●k·" and not kerberos.ok and matrix.tone(kerberos) == "error"
    assert "Kerberos only (0x1000000 not set)" in "\n".join(line.text for line in matrix.evidence(snap, kerberos))
    n003 = snap.nodes[2].account
    risky = snap.model_copy(update={"nodes": snap.nodes[:2] + (snap.nodes[2].model_copy(update={
        "account": n003.model_copy(update={"uac": n003.uac | UAC_TRUSTED_FOR_DELEGATION})}),)})
    unconstrained = matrix.matrix(risky)[("N003", "N001")]
    assert unconstrained.ok and matrix.glyph(unconstrained, True) == "●●U✓" and matrix.tone(unconstrained) == "warning"
    assert matrix.fix_findings(risky, [("N003", "N001")]) == []  # its constrained delegation is already complete


def apply(session: Session, findings) -> None:
    previews = [p for f in findings for p in session.remediator.preview(f.fix)]
    assert session.remediator.apply(previews, "CHG-3001", [h for f in findings for h in f.fix.purge_hosts]).ok


def test_one_action_per_source_for_a_row_column_or_grid():
    snap = synthetic(5, lacking=[(0, 1), (0, 2), (3, 1)], kerberos_only=[4])
    row = matrix.fix_findings(snap, matrix.row(snap, "N001"))
    assert len(row) == 1 and row[0].source == "N001"
    (add,) = row[0].fix.actions
    assert add.kind == "directory.add_values" and len(add.values) == 8
    assert set(add.values) == set(delegation_targets("N002", "N002.example.test")
                                  + delegation_targets("N003", "N003.example.test"))
    column = matrix.fix_findings(snap, matrix.column(snap, "N002"))
    assert sorted(f.source for f in column) == ["N001", "N004", "N005"]
    n005 = next(f for f in column if f.source == "N005")
    assert [a.kind for a in n005.fix.actions] == ["directory.set_uac_bits"]  # protocol transition only
    grid = matrix.fix_findings(snap, matrix.every_pair(snap))
    assert sorted(f.source for f in grid) == ["N001", "N004", "N005"]
    assert matrix.fix_findings(snap, [("N002", "N003")]) == []  # nothing wrong: nothing to preview


def test_fixing_the_grid_makes_every_pair_work(lab_session):
    session = lab_session("kerberos-only")
    snapshot = snapshot_of(session)
    assert all(not s.ok for s in matrix.matrix(snapshot).values())
    plans = matrix.fix_findings(snapshot, matrix.every_pair(snapshot))
    assert sorted(f.source for f in plans) == list(NODES)
    apply(session, plans)
    after = snapshot_of(session)
    assert all(s.ok for s in matrix.matrix(after).values())
    assert not [f for f in diagnose(after) if f.code.startswith("delegation.")]
    assert len(session.remediator.undoable()) == len(NODES)


def test_a_64_node_grid():
    snap = synthetic(64, lacking=[(0, 63), (10, 20)], kerberos_only=[5])
    grid = matrix.matrix(snap)
    assert len(grid) == 64 * 63
    broken = {k for k, s in grid.items() if not s.ok}
    assert broken == {("N001", "N064"), ("N011", "N021")} | {("N006", f"N{j:03d}") for j in range(1, 65) if j != 6}
    assert matrix.statuses(snap, [("N001", "N064")]) == {("N001", "N064"): grid[("N001", "N064")]}
    assert sorted(f.source for f in matrix.fix_findings(snap, matrix.every_pair(snap))) == ["N001", "N006", "N011"]


def test_the_grid_is_worked_out_once_per_snapshot():
    """The last snapshot's grid is kept; a caller changing its copy changes nothing, another snapshot (an equal
    one too) gets its own."""
    snap = synthetic(8, lacking=[(0, 7)])
    grid = matrix.matrix(snap)
    grid.clear()
    again = matrix.matrix(snap)
    assert len(again) == 8 * 7 and again[("N001", "N008")] is matrix.matrix(snap)[("N001", "N008")]
    assert again == matrix.statuses(snap, again)
    fixed = synthetic(8)
    assert matrix.matrix(fixed)[("N001", "N008")].ok and not matrix.matrix(snap)[("N001", "N008")].ok
    assert matrix.matrix(synthetic(8, lacking=[(0, 7)]))[("N001", "N008")] is not again[("N001", "N008")]


def test_smb_storage_counts_in_every_cell_and_its_fix(lab_session):
    """APP01 lives on \\\\FS01\\VMs and no node may delegate to cifs/FS01: every pair is red (both ends must
    open the VM's files), the evidence names the storage finding, and a cell's fix adds the file server's
    cifs to both ends (Microsoft, "Set up hosts for live migration without Failover Clustering": cifs is
    the service delegated for moving storage)."""
    snapshot = snapshot_of(lab_session("smb-storage"))
    grid = matrix.matrix(snapshot)
    assert {matrix.tone(s) for s in grid.values()} == {"error"} and not any(s.ok for s in grid.values())
    cell = grid[("HV01", "HV02")]
    assert not cell.missing and [g.finding for g in cell.shares] == [
        "storage.smb_delegation:HV01:FS01", "storage.smb_delegation:HV02:FS01"]
    lines = matrix.evidence(snapshot, cell)
    assert Line("fail", "VMs on SMB shares (APP01 on FS01): HV01 lacks cifs/FS01, cifs/fs01.contoso.local  "
                "[fix: storage.smb_delegation:HV01:FS01]") in lines
    fixes = {f.source: f for f in matrix.fix_findings(snapshot, [("HV01", "HV02")])}
    assert set(fixes) == {"HV01", "HV02"}
    assert all(f.fix.actions[0].values == ("cifs/FS01", "cifs/fs01.contoso.local") for f in fixes.values())
    assert all(f.severity.value == "error" and len(f.fix.actions) == 1 for f in fixes.values())


def test_smb_storage_gap_of_one_node_reds_only_its_pairs(lab_session):
    session = lab_session("smb-storage")
    for node in ("HV01", "HV02", "HV03"):  # everyone but HV04 may now delegate to FS01
        apply(session, [f for f in diagnose(snapshot_of(session)) if f.id == f"storage.smb_delegation:{node}:FS01"])
    grid = matrix.matrix(snapshot_of(session))
    red = {k for k, s in grid.items() if matrix.tone(s) == "error"}
    assert red == {k for k in grid if "HV04" in k}
    ok = grid[("HV01", "HV02")]
    assert ok.ok and ok.shares == () and Line("ok", "VMs on SMB shares: HV01 and HV02 may delegate to the cifs of "
                                              "FS01") in matrix.evidence(snapshot_of(session), ok)
