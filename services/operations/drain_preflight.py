"""The hosts' own pre-flight for a drain: Compare-VM from the node to another node, per VM, for the pairs the
plan reads; Move-VM -WhatIf only where the host has no Compare-VM (an older Hyper-V module).

Compare-VM -Name <vm> -DestinationHost <peer>, run on the source, returns a VMCompatibilityReport whose
Incompatibilities (Message, MessageId, Source) are what the destination lacks for the VM
(https://learn.microsoft.com/powershell/module/hyper-v/compare-vm). The host's words are kept verbatim (the
planner shows them safely); a comparison that failed (the destination refused the connection) is kept as the
host's text; a host that cannot be asked at all leaves no entry, and the planner's own checks still decide.

Each answer is a round trip to the source host (seconds on Windows, one at a time per host), so only the
pairs the planner reads are asked: the plan is made on the answers so far, the (VM, destination) pairs it
looked up and were not asked yet are asked, and again until it looks up nothing new. The planner is greedy
(each VM to the first destination that passes), so a VM that the first candidate takes costs one question,
and the final plan is the one every pair's answer would give: every pair it reads has been answered."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from lmdoctor.services.backends.hosts.base import CommandMissing, HostError, HostGateway
from lmdoctor.services.domain import drain
from lmdoctor.services.domain.diagnosis import diagnose
from lmdoctor.services.domain.drain import HostAnswer, Preflight
from lmdoctor.services.domain.models import Finding, Incompatibility, Snapshot

WHAT_IF = "Move-VM -WhatIf"
Pair = tuple[str, str]  # (VM, destination)


@dataclass(frozen=True)
class Collected:
    """The hosts' answers the plan needs, and every pair they were asked about (answered or not), in the order
    asked, with the command that answered it."""

    answers: Preflight
    asked: Mapping[Pair, str] = field(default_factory=dict)


class _Reads(Mapping[Pair, HostAnswer]):
    """The answers so far, read-only, noting each pair looked up (the planner reads by key)."""

    def __init__(self, answers: Mapping[Pair, HostAnswer]) -> None:
        self.answers = answers
        self.read: dict[Pair, None] = {}  # an ordered set: the pairs in the order the planner read them

    def __getitem__(self, pair: Pair) -> HostAnswer:
        self.read[pair] = None
        return self.answers[pair]

    def __iter__(self) -> Iterator[Pair]:
        return iter(self.answers)

    def __len__(self) -> int:
        return len(self.answers)


def _what_if(hosts: HostGateway, vm: str, source: str, peer: str) -> HostAnswer | None:
    try:
        result = hosts.move_vm(vm, source, peer, what_if=True)
    except HostError as exc:
        return HostAnswer((Incompatibility(message=str(exc)),), command=WHAT_IF)
    return HostAnswer((Incompatibility(message=result.error),), command=WHAT_IF) if not result.ok and result.error \
        else None


def collect(hosts: HostGateway, snapshot: Snapshot, node: str, findings: list[Finding] | None = None) -> Collected:
    """(VM, destination) → the host's answer, for the VMs of `node` and the peers the drain plan examines."""
    src = snapshot.node(node.upper())
    if src is None or src.host is None or not src.host.reachable:
        return Collected({})
    findings = diagnose(snapshot) if findings is None else findings
    found: dict[Pair, HostAnswer] = {}
    asked: dict[Pair, str] = {}
    compare = True  # until the source shows it has no Compare-VM
    while True:
        reads = _Reads(found)
        drain.plan(snapshot, src.name, reads, findings)
        wanted = [p for p in reads.read if p not in asked]
        if not wanted:
            return Collected(found, asked)
        for vm, peer in wanted:
            answer = None
            if compare:
                try:
                    answer = HostAnswer(hosts.compare_vm(vm, src.name, peer), compared=True)
                except CommandMissing:
                    compare = False
                except HostError as exc:
                    answer = HostAnswer((Incompatibility(message=str(exc)),))
            if not compare:
                answer = _what_if(hosts, vm, src.name, peer)
            asked[(vm, peer)] = "Compare-VM" if compare else WHAT_IF
            if answer is not None and (answer.words or answer.compared):  # a compatible report's judgement stands
                found[(vm, peer)] = answer
