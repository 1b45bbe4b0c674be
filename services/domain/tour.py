"""The migration tour, as data: which hops move one test VM through every node and back, and what each hop gave.

A cycle visits every node once (each node a source once and a destination once); `all` moves the VM over every
ordered pair of nodes, n·(n−1) hops. Both start and end on the node the VM is on. The complete directed graph on
the nodes has in-degree = out-degree at every node, so a closed walk using every ordered pair exactly once (an
Eulerian circuit) exists; Hierholzer's algorithm finds one."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from lmdoctor.services.domain.errors import LmdoctorError
from lmdoctor.services.domain.models import Model, MoveResult

Mode = Literal["cycle", "all"]
Status = Literal["running", "stopped", "failed", "done"]
MODES: tuple[Mode, ...] = ("cycle", "all")


class TourError(LmdoctorError):
    """A tour cannot be planned or resumed (too few nodes, the VM is nowhere, nothing left to resume)."""


class Hop(Model):
    source: str
    destination: str


class HopResult(Model):
    """One hop as it ran: its place in the plan, when it started and the move's result (source as it really was)."""

    index: int
    started: datetime
    move: MoveResult

    @property
    def passed(self) -> bool:
        return self.move.ok and self.move.verified


class TourState(Model):
    """The saved progress of one tour: the plan, every hop run so far, the next hop to run."""

    id: str
    vm: str
    mode: Mode
    keep_going: bool
    reason: str
    start: str
    hops: tuple[Hop, ...]
    results: tuple[HopResult, ...] = ()
    next: int = 0  # index in `hops` of the next hop to run
    skipped: tuple[int, ...] = ()  # hops not run because the VM was already on their destination (after a failure)
    status: Status = "running"
    started: datetime
    updated: datetime

    @property
    def remaining(self) -> tuple[Hop, ...]:
        return self.hops[self.next:]

    @property
    def failures(self) -> tuple[HopResult, ...]:
        """The hops whose latest attempt failed (a hop retried on resume and passed is not one)."""
        latest = {r.index: r for r in self.results}
        return tuple(r for r in latest.values() if not r.passed)

    def retried(self, result: HopResult) -> bool:
        """A failed attempt of a hop that a later attempt (on resume) passed."""
        return not result.passed and any(r.passed and r.index == result.index
                                          for r in self.results[self.results.index(result) + 1:])

    @property
    def passed(self) -> int:
        """How many planned hops passed (their latest attempt)."""
        return len({r.index for r in self.results if r.passed})

    @property
    def pending(self) -> list[tuple[int, Hop]]:
        """The hops not run yet, with their index in the plan."""
        return [(self.next + i, h) for i, h in enumerate(self.remaining)]

    @property
    def unfinished(self) -> bool:
        return self.status != "done"


def plan(nodes: list[str] | tuple[str, ...], start: str, mode: Mode = "cycle") -> tuple[Hop, ...]:
    """The hops of a tour from `start` (the VM's node) through `nodes` and back to `start`."""
    names = [n.upper() for n in nodes]
    start = start.upper()
    if len(set(names)) != len(names):
        raise TourError(f"a node is named twice: {', '.join(names)}")
    if start not in names:
        raise TourError(f"{start} is not a node of the cluster ({', '.join(names)})")
    if len(names) < 2:
        raise TourError("a tour needs at least two nodes")
    if mode not in MODES:
        raise TourError(f"unknown tour mode {mode!r} (cycle or all)")
    others = [n for n in names if n != start]
    if mode == "cycle":
        order = [start, *others, start]
        hops = tuple(Hop(source=a, destination=b) for a, b in zip(order, order[1:], strict=False))
    else:
        hops = _every_pair(names, start)
    validate(hops, names, start, mode)
    return hops


def new_state(tour_id: str, vm: str, start: str, nodes: list[str] | tuple[str, ...], mode: Mode, keep_going: bool,
              reason: str, now: datetime) -> TourState:
    """A tour not yet run: its plan from `start`, the node the VM is on."""
    return TourState(id=tour_id, vm=vm, mode=mode, keep_going=keep_going, reason=reason, start=start.upper(),
                     hops=plan(nodes, start, mode), started=now, updated=now)


def _every_pair(names: list[str], start: str) -> tuple[Hop, ...]:
    """An Eulerian circuit of the complete directed graph on `names` from `start` (Hierholzer)."""
    unused = {n: [m for m in reversed(names) if m != n] for n in names}  # popped from the end: nodes in order
    stack, circuit = [start], []
    while stack:
        here = stack[-1]
        if unused[here]:
            stack.append(unused[here].pop())
        else:
            circuit.append(stack.pop())
    circuit.reverse()
    return tuple(Hop(source=a, destination=b) for a, b in zip(circuit, circuit[1:], strict=False))


def validate(hops: tuple[Hop, ...], nodes: list[str], start: str, mode: Mode) -> None:
    """A plan chains (each hop starts where the last ended), starts and ends on `start`, never stays on a node,
    and covers what its mode promises: every node as source and destination, or every ordered pair once."""
    if not hops or hops[0].source != start or hops[-1].destination != start:
        raise TourError(f"a tour must start and end on {start}")
    for a, b in zip(hops, hops[1:], strict=False):
        if a.destination != b.source:
            raise TourError(f"hop {a.source} → {a.destination} is followed by one from {b.source}")
    if any(h.source == h.destination for h in hops):
        raise TourError("a hop must move the VM to another node")
    pairs = [(h.source, h.destination) for h in hops]
    names = set(nodes)
    if mode == "cycle" and not ({h.source for h in hops} == {h.destination for h in hops} == names
                                and len(hops) == len(names)):
        raise TourError("a cycle must leave and reach every node exactly once")
    if mode == "all" and (len(set(pairs)) != len(pairs) or len(pairs) != len(names) * (len(names) - 1)):
        raise TourError("an every-pair tour must cover every ordered pair of nodes exactly once")


def next_hop(planned: Hop, current: str) -> Hop | None:
    """The hop to run from where the VM really is: a hop after a failed one (with keep-going) starts from the
    VM's node instead; None when the VM is already on the planned destination (nothing to move)."""
    current = current.upper()
    if current == planned.destination:
        return None
    return planned if current == planned.source else Hop(source=current, destination=planned.destination)


def throughput(move: MoveResult) -> float | None:
    """Bytes per second of a move, when the host reported the bytes it transferred."""
    if not move.bytes_transferred or move.duration_s <= 0:
        return None
    return move.bytes_transferred / move.duration_s


# --- the per-hop table, as both front ends show it ----------------------------------------------------------
COLUMNS = ("#", "From", "To", "Result", "Duration", "Blackout", "Transferred", "Throughput")


def size_text(value: float) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value:.0f} B"


def outcome_text(result: HopResult) -> str:
    if result.passed:
        return "passed"
    return "FAILED (pre-flight)" if result.move.what_if else "FAILED"


def hop_row(result: HopResult) -> tuple[str, ...]:
    """One hop's cells under COLUMNS; "—" where the host reported nothing."""
    m = result.move
    rate = throughput(m)
    return (str(result.index + 1), m.source, m.destination, outcome_text(result),
            f"{m.duration_s:.1f} s",
            "—" if m.blackout_ms is None else f"{m.blackout_ms:.0f} ms",
            "—" if m.bytes_transferred is None else size_text(m.bytes_transferred),
            "—" if rate is None else size_text(rate) + "/s")


def pending_row(index: int, hop: Hop, result: str = "not run") -> tuple[str, ...]:
    return (str(index + 1), hop.source, hop.destination, result, "", "", "", "")


def rows(state: TourState, running: tuple[int, Hop, str] | None = None) -> list[tuple[str, ...]]:
    """Every hop of the plan in order: each attempt as it ran (a failed hop retried on resume shows both), the hop
    `running` (index, the hop as it runs, its progress text), a hop skipped after a failure, a hop not reached."""
    out = []
    for index, hop in enumerate(state.hops):
        attempts = [hop_row(r) for r in state.results if r.index == index]
        out += attempts
        if running is not None and running[0] == index:
            out.append(pending_row(index, running[1], running[2]))
        elif attempts:
            continue
        elif index in state.skipped:
            out.append(pending_row(index, hop, f"skipped: VM already on {hop.destination}"))
        else:
            out.append(pending_row(index, hop))
    return out
