"""The migration tour: the planner, the runner on the lab (stop, keep going, resume), its saved state, the move log,
the matrix's last-move column and the change-record report."""

from __future__ import annotations

import itertools
import threading
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmdoctor.services.domain import matrix
from lmdoctor.services.domain import tour as plan
from lmdoctor.services.domain.diagnosis import bulk_fixable, diagnose
from lmdoctor.services.domain.tour import Hop, TourError
from lmdoctor.services.operations import report, tour
from lmdoctor.services.operations.inventory import take_snapshot
from lmdoctor.services.operations.session import Session
from lmdoctor.services.storage import move_log, tour_state

NODES = ["HV01", "HV02", "HV03", "HV04"]


# --- the planner ----------------------------------------------------------------------------------------------

def _pairs(hops: tuple[Hop, ...]) -> list[tuple[str, str]]:
    return [(h.source, h.destination) for h in hops]


@pytest.mark.parametrize("start", NODES)
def test_cycle_leaves_and_reaches_every_node_once_and_ends_on_the_start(start: str) -> None:
    hops = plan.plan(NODES, start)
    assert len(hops) == len(NODES)
    assert sorted(h.source for h in hops) == sorted(h.destination for h in hops) == NODES
    assert hops[0].source == hops[-1].destination == start
    assert all(a.destination == b.source for a, b in itertools.pairwise(hops))


def test_cycle_from_hv02_in_cluster_order() -> None:
    assert _pairs(plan.plan(NODES, "hv02")) == [("HV02", "HV01"), ("HV01", "HV03"), ("HV03", "HV04"), ("HV04", "HV02")]


@given(n=st.integers(min_value=2, max_value=9), start=st.integers(min_value=0, max_value=8))
def test_all_pairs_covers_every_ordered_pair_once_as_one_closed_walk(n: int, start: int) -> None:
    nodes = [f"N{i}" for i in range(n)]
    first = nodes[start % n]
    hops = plan.plan(nodes, first, "all")
    pairs = _pairs(hops)
    assert len(pairs) == n * (n - 1)
    assert set(pairs) == {(a, b) for a in nodes for b in nodes if a != b}
    assert hops[0].source == hops[-1].destination == first
    assert all(a.destination == b.source for a, b in itertools.pairwise(hops))


@pytest.mark.parametrize(("nodes", "start", "error"), [
    (["HV01"], "HV01", "at least two nodes"),
    (["HV01", "HV02"], "HV03", "not a node"),
    (["HV01", "hv01", "HV02"], "HV01", "named twice"),
])
def test_plans_that_cannot_be_made_are_refused(nodes: list[str], start: str, error: str) -> None:
    with pytest.raises(TourError, match=error):
        plan.plan(nodes, start)


def test_validation_refuses_broken_chains_and_incomplete_plans() -> None:
    with pytest.raises(TourError, match="followed by one from"):
        plan.validate((Hop(source="HV01", destination="HV02"), Hop(source="HV03", destination="HV01")),
                      ["HV01", "HV02", "HV03"], "HV01", "cycle")
    with pytest.raises(TourError, match="every node exactly once"):
        plan.validate((Hop(source="HV01", destination="HV02"), Hop(source="HV02", destination="HV01")),
                      ["HV01", "HV02", "HV03"], "HV01", "cycle")
    with pytest.raises(TourError, match="every ordered pair"):
        plan.validate(plan.plan(NODES, "HV01"), NODES, "HV01", "all")


def test_next_hop_starts_from_where_the_vm_is() -> None:
    planned = Hop(source="HV02", destination="HV04")
    assert plan.next_hop(planned, "HV02") == planned
    assert plan.next_hop(planned, "hv01") == Hop(source="HV01", destination="HV04")
    assert plan.next_hop(planned, "HV04") is None


# --- the runner on the lab ------------------------------------------------------------------------------------

def _run(session: Session, vm: str, mode: plan.Mode = "cycle", keep_going: bool = False,
         stop: threading.Event | None = None, events: list | None = None) -> tour.TourOutcome:
    nodes = [n.name for n in session.hosts.cluster_nodes()]
    state = tour.start(session.hosts, vm, nodes, mode, keep_going, "CHG-42 tour")
    return tour.run(session.hosts, session.journal, state, nodes, listener=(events if events is not None else []).append, stop=stop)


def _on(session: Session, vm: str) -> list[str]:
    return [n for n in NODES if session.hosts.get_vm(n, vm) is not None]


def test_a_healthy_cycle_passes_every_hop_and_reports_blackout_and_bytes(lab_session) -> None:
    session = lab_session("healthy")
    outcome = _run(session, "APP01")
    assert outcome.ok and outcome.location == "HV01" and _on(session, "APP01") == ["HV01"]
    assert [(r.move.source, r.move.destination) for r in outcome.state.results] == _pairs(outcome.state.hops)
    for r in outcome.state.results:
        assert r.passed and r.move.verified and not r.move.what_if
        assert r.move.bytes_transferred == 8 << 30  # APP01's 8 GiB of memory
        assert r.move.blackout_ms == 68.0
    assert outcome.state.status == "done"


def test_the_tour_stops_at_the_pair_without_delegation_and_says_where_the_vm_is(lab_session) -> None:
    session = lab_session("seed")  # HV01 may not delegate to HV02
    events: list = []
    outcome = _run(session, "WEB01", events=events)  # from HV03: HV03→HV01, HV01→HV02 (fails), …
    state = outcome.state
    assert not outcome.ok and state.status == "failed"
    assert [(r.move.source, r.move.destination, r.passed) for r in state.results] == [
        ("HV03", "HV01", True), ("HV01", "HV02", False)]
    failed = state.results[-1].move
    assert "No credentials are available in the security package (0x8009030E)" in (failed.error or "")
    assert outcome.location == "HV01" and _on(session, "WEB01") == ["HV01"]
    assert state.next == 1 and [(h.source, h.destination) for h in state.remaining][0] == ("HV01", "HV02")
    assert [type(e).__name__ for e in events if not isinstance(e, tour.HopProgress)] == [
        "HopStarted", "HopFinished", "HopStarted", "HopFinished"]
    saved = tour_state.load(session.journal)
    assert saved == state  # saved after the failed hop, resumable
    logged = [m for m in move_log.history(session.journal) if m.tour == state.id]
    assert [m.result for m in logged] == [r.move for r in state.results]
    assert all(m.reason == "CHG-42 tour" for m in logged)


def test_keep_going_continues_from_the_vm_s_node_after_a_failed_hop(lab_session) -> None:
    session = lab_session("seed")
    outcome = _run(session, "WEB01", keep_going=True)
    state = outcome.state
    assert [(r.move.source, r.move.destination, r.passed) for r in state.results] == [
        ("HV03", "HV01", True), ("HV01", "HV02", False), ("HV01", "HV04", True), ("HV04", "HV03", True)]
    assert state.status == "done" and not outcome.ok and len(state.failures) == 1
    assert outcome.location == "HV03"


def _fix_everything(session: Session) -> None:
    snapshot = take_snapshot(session.directory, session.hosts, session.cluster, session.configured_nodes)
    chosen = bulk_fixable(diagnose(snapshot))
    previews = [p for f in chosen for p in session.remediator.preview(f.fix)]
    purge = sorted({h for f in chosen for h in f.fix.purge_hosts})
    assert session.remediator.apply(previews, "CHG-42 fix", purge).ok


def test_resume_after_the_fix_retries_the_failed_hop_and_finishes(lab_session) -> None:
    session = lab_session("seed")
    first = _run(session, "WEB01")
    assert first.state.status == "failed"
    _fix_everything(session)
    resumed = tour.run(session.hosts, session.journal, tour.saved(session.journal), NODES)
    state = resumed.state
    assert state.id == first.state.id and resumed.ok and resumed.location == "HV03"
    assert [(r.move.source, r.move.destination, r.passed) for r in state.results] == [
        ("HV03", "HV01", True), ("HV01", "HV02", False), ("HV01", "HV02", True), ("HV02", "HV04", True),
        ("HV04", "HV03", True)]
    assert state.passed == 4 and not state.failures
    assert [state.retried(r) for r in state.results] == [False, True, False, False, False]
    assert tour_state.unfinished(session.journal) is None
    with pytest.raises(TourError, match="no unfinished tour"):
        tour.saved(session.journal)
    assert len([m for m in move_log.history(session.journal) if m.tour == state.id]) == 5


def test_a_stop_ends_the_tour_after_the_current_hop_and_resume_continues(lab_session) -> None:
    session = lab_session("healthy")
    stop = threading.Event()
    events: list = []

    def listen(event) -> None:
        events.append(event)
        if isinstance(event, tour.HopProgress) and event.index == 0 and event.progress.percent == 50:
            stop.set()  # asked mid-hop: the hop completes, the next does not start

    state = tour.start(session.hosts, "SQL01", NODES, "all", False, "CHG-43")
    outcome = tour.run(session.hosts, session.journal, state, NODES, listener=listen, stop=stop)
    assert outcome.state.status == "stopped" and outcome.state.next == 1 and len(outcome.state.results) == 1
    assert outcome.state.results[0].passed and outcome.location == "HV01"
    progress = [e for e in events if isinstance(e, tour.HopProgress)]
    assert not progress[0].stopping and progress[-1].stopping  # the stop is passed to the progress
    saved = tour.saved(session.journal)
    assert saved.status == "stopped" and len(saved.remaining) == 11
    resumed = tour.run(session.hosts, session.journal, saved, NODES)
    assert resumed.ok and len(resumed.state.results) == 12 and resumed.location == "HV02"


def test_a_vm_that_is_nowhere_cannot_tour(lab_session) -> None:
    session = lab_session("healthy")
    with pytest.raises(TourError, match="not found on any of"):
        tour.start(session.hosts, "NOPE01", NODES, "cycle", False, "CHG-1")
    assert tour_state.load(session.journal) is None


# --- the matrix and the report --------------------------------------------------------------------------------

def test_tour_hops_fill_the_matrix_last_move_and_the_report(lab_session) -> None:
    session = lab_session("seed")
    outcome = _run(session, "WEB01")
    snapshot = take_snapshot(session.directory, session.hosts, session.cluster, session.configured_nodes)
    last = matrix.last_moves(snapshot, move_log.history(session.journal))
    assert last[("HV01", "HV02")] is False  # the hop failed at its pre-flight: still the pair's last move
    assert last[("HV03", "HV01")] is True
    doc = report.build(session.remediator, session.label, None, datetime.now(timezone.utc))
    (entry,) = doc["tours"]
    assert entry["id"] == outcome.state.id and entry["vm"] == "WEB01" and entry["reason"] == "CHG-42 tour"
    assert [(h["source"], h["destination"], h["ok"]) for h in entry["hops"]] == [("HV03", "HV01", True),
                                                                                 ("HV01", "HV02", False)]
    assert entry["hops"][0]["blackout_ms"] == 44.0 and entry["hops"][0]["bytes_transferred"] == 4 << 30
    text = report.to_markdown(doc)
    assert "## Migration tours" in text and f"Tour `{outcome.state.id}` of WEB01" in text
    assert "| HV01 | HV02 | FAILED (pre-flight) |" in text


def test_a_damaged_saved_tour_is_named_with_the_way_out(lab_session) -> None:
    session = lab_session("healthy")
    tour_state.state_path(session.journal).write_text('{"id": 1}')
    with pytest.raises(tour_state.TourStateError, match="not a saved tour"):
        tour.saved(session.journal)


def test_hop_rows_show_what_the_host_reported() -> None:
    from lmdoctor.services.domain.models import MoveResult

    ran = plan.HopResult(index=0, started=datetime.now(timezone.utc), move=MoveResult(
        vm="APP01", source="HV01", destination="HV02", what_if=False, ok=True, verified=True, duration_s=2.0,
        bytes_transferred=8 << 30, blackout_ms=68.0))
    assert plan.hop_row(ran) == ("1", "HV01", "HV02", "passed", "2.0 s", "68 ms", "8.0 GiB", "4.0 GiB/s")
    real = ran.model_copy(update={"move": ran.move.model_copy(update={"bytes_transferred": None, "blackout_ms": None})})
    assert plan.hop_row(real)[5:] == ("—", "—", "—")  # a real host reports no bytes; no 20415 event: no blackout
