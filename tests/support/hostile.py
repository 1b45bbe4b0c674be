"""History planted in the hostile lab: a failed test move of a planted VM and a fix journaled with a planted
reason (as another tool or a hand-edited journal would leave them; lmdoctor's own inputs refuse such a reason)."""

from __future__ import annotations

from lmdoctor.services.backends.lab.scenarios import CLEAR, CLICK, MARKUP, OSC52, UNBALANCED
from lmdoctor.services.domain.diagnosis import diagnose
from lmdoctor.services.operations.inventory import take_snapshot
from lmdoctor.services.operations.migration import MoveRequest, run_test_move
from lmdoctor.services.operations.session import Session
from lmdoctor.services.storage import move_log as moves

REASON = f"CHG-7 {MARKUP} {CLICK} {UNBALANCED}" + OSC52 + CLEAR


def plant_history(session: Session) -> None:
    nodes = [n.name for n in session.hosts.cluster_nodes()]
    result = run_test_move(session.hosts, MoveRequest(vm=CLICK, destination="HV02", source="HV01"), nodes)
    assert not result.ok
    moves.record(session.journal, result)
    snapshot = take_snapshot(session.directory, session.hosts, session.cluster)
    fix = next(f for f in diagnose(snapshot) if f.code == "delegation.missing").fix
    assert session.remediator.apply(session.remediator.preview(fix), REASON, list(fix.purge_hosts)).ok
