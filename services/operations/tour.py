"""The migration tour: one test VM moved hop by hop through every node and back, each hop a test Move-VM
(pre-flight, live move, Get-VM on the destination), logged in the move log and saved after every hop so a
stopped or failed tour resumes from where the VM is."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from lmdoctor.services.backends.hosts.base import HostError, HostGateway
from lmdoctor.services.domain import tour
from lmdoctor.services.domain.models import MoveProgress
from lmdoctor.services.domain.tour import Hop, HopResult, Mode, TourError, TourState
from lmdoctor.services.operations.migration import MoveRequest, run_test_move
from lmdoctor.services.storage import move_log, tour_state
from lmdoctor.services.storage.journal import Journal

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class HopStarted:
    index: int  # in the plan
    total: int
    hop: Hop  # as it runs (after a failed hop with keep-going, from where the VM is)


@dataclass(frozen=True)
class HopProgress:
    index: int
    hop: Hop
    progress: MoveProgress
    stopping: bool  # a stop was asked: the tour ends after this hop


@dataclass(frozen=True)
class HopFinished:
    result: HopResult
    state: TourState  # saved, with this hop in it


TourEvent = HopStarted | HopProgress | HopFinished
Listener = Callable[[TourEvent], None]


@dataclass(frozen=True)
class TourOutcome:
    state: TourState
    location: str | None  # where Get-VM found the VM after the tour; None: on no node that answered

    @property
    def ok(self) -> bool:
        """Every hop ran and passed."""
        return self.state.status == "done" and not self.state.failures


def _now() -> datetime:
    return datetime.now(timezone.utc)


def where(hosts: HostGateway, vm: str, nodes: list[str]) -> str | None:
    """The node Get-VM finds the VM on, or None."""
    for node in nodes:
        try:
            if hosts.get_vm(node, vm) is not None:
                return node.upper()
        except HostError:
            continue
    return None


def start(hosts: HostGateway, vm: str, nodes: list[str], mode: Mode, keep_going: bool, reason: str,
          clock: Clock = _now) -> TourState:
    """A new tour's plan from the node the VM is on now (nothing is moved, nothing saved: the preview)."""
    here = where(hosts, vm, nodes)
    if here is None:
        raise TourError(f"VM {vm!r} was not found on any of: {', '.join(nodes)}")
    return planned(vm, here, nodes, mode, keep_going, reason, clock)


def planned(vm: str, here: str, nodes: list[str], mode: Mode, keep_going: bool, reason: str,
            clock: Clock = _now) -> TourState:
    """A new tour of `vm` from `here`, as the front end last saw it (the run starts from where the VM really is)."""
    now = clock()
    return tour.new_state(f"{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}", vm, here, nodes, mode, keep_going, reason,
                          now)


def saved(journal: Journal) -> TourState:
    """The unfinished tour to resume; TourError when there is none."""
    state = tour_state.unfinished(journal)
    if state is None:
        raise TourError("no unfinished tour to resume (start one with --vm)")
    return state


def run(hosts: HostGateway, journal: Journal, state: TourState, nodes: list[str], listener: Listener | None = None,
        stop: threading.Event | None = None, clock: Clock = _now) -> TourOutcome:
    """Run the tour's remaining hops from where the VM is, saving the state after each; stop on the first failed
    hop unless the tour keeps going, and between hops when `stop` is set."""
    tell = listener or (lambda _e: None)
    stop = stop or threading.Event()
    current = where(hosts, state.vm, nodes)
    if current is None:
        raise TourError(f"VM {state.vm!r} was not found on any of: {', '.join(nodes)}")
    state = state.model_copy(update={"status": "running", "updated": clock()})
    tour_state.save(journal, state)
    while state.next < len(state.hops):
        if stop.is_set():
            state = state.model_copy(update={"status": "stopped", "updated": clock()})
            tour_state.save(journal, state)
            break
        index = state.next
        hop = tour.next_hop(state.hops[index], current)
        if hop is None:  # the VM is already where this hop goes (it stayed there after a failed hop)
            state = state.model_copy(update={"next": index + 1, "skipped": (*state.skipped, index),
                                             "updated": clock()})
            tour_state.save(journal, state)
            continue
        tell(HopStarted(index=index, total=len(state.hops), hop=hop))
        started = clock()

        def progress(p: MoveProgress, i: int = index, h: Hop = hop) -> None:
            tell(HopProgress(i, h, p, stop.is_set()))

        move = run_test_move(hosts, MoveRequest(vm=state.vm, destination=hop.destination, source=hop.source), nodes,
                             progress=progress)
        move_log.record(journal, move, tour=state.id, reason=state.reason)
        result = HopResult(index=index, started=started, move=move)
        if result.passed:
            current = hop.destination
        else:
            current = where(hosts, state.vm, nodes) or hop.source
        halt = not result.passed and not state.keep_going
        state = state.model_copy(update={
            "results": (*state.results, result), "next": index if halt else index + 1,
            "status": "failed" if halt else "running", "updated": clock()})
        tour_state.save(journal, state)
        tell(HopFinished(result=result, state=state))
        if halt:
            break
    if state.status == "running":
        state = state.model_copy(update={"status": "done", "updated": clock()})
        tour_state.save(journal, state)
    return TourOutcome(state=state, location=where(hosts, state.vm, nodes))
