"""The hosts' own pre-flight for a drain: Compare-VM from the node to each other node, per VM; Move-VM -WhatIf
only where the host has no Compare-VM (an older Hyper-V module).

Compare-VM -Name <vm> -DestinationHost <peer>, run on the source, returns a VMCompatibilityReport whose
Incompatibilities (Message, MessageId, Source) are what the destination lacks for the VM
(https://learn.microsoft.com/powershell/module/hyper-v/compare-vm). The host's words are kept verbatim (the
planner shows them safely); a comparison that failed (the destination refused the connection) is kept as the
host's text; a host that cannot be asked at all leaves no entry, and the planner's own checks still decide."""

from __future__ import annotations

from lmdoctor.services.backends.hosts.base import CommandMissing, HostError, HostGateway
from lmdoctor.services.domain.drain import HostAnswer, Preflight
from lmdoctor.services.domain.models import Incompatibility, Snapshot

WHAT_IF = "Move-VM -WhatIf"


def _what_if(hosts: HostGateway, vm: str, source: str, peer: str) -> HostAnswer | None:
    try:
        result = hosts.move_vm(vm, source, peer, what_if=True)
    except HostError as exc:
        return HostAnswer((Incompatibility(message=str(exc)),), command=WHAT_IF)
    return HostAnswer((Incompatibility(message=result.error),), command=WHAT_IF) if not result.ok and result.error \
        else None


def collect(hosts: HostGateway, snapshot: Snapshot, node: str) -> Preflight:
    """(VM, destination) → the host's answer, for every VM of `node` and every reachable peer."""
    src = snapshot.node(node.upper())
    if src is None or src.host is None or not src.host.reachable:
        return {}
    found: dict[tuple[str, str], HostAnswer] = {}
    peers = [n.name for n in snapshot.nodes if n.name != src.name and n.host is not None and n.host.reachable]
    compare = True  # until the source shows it has no Compare-VM
    for vm in src.host.vms:
        for peer in peers:
            answer = None
            if compare:
                try:
                    answer = HostAnswer(hosts.compare_vm(vm.name, src.name, peer), compared=True)
                except CommandMissing:
                    compare = False
                except HostError as exc:
                    answer = HostAnswer((Incompatibility(message=str(exc)),))
            if not compare:
                answer = _what_if(hosts, vm.name, src.name, peer)
            if answer is not None and (answer.words or answer.compared):  # a compatible report's judgement stands
                found[(vm.name, peer)] = answer
    return found
