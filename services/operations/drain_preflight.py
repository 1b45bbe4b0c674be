"""The hosts' own pre-flight for a drain: Move-VM -WhatIf from the node to each other node, per VM.

The host's refusal text is kept verbatim (the planner shows it safely); a host that cannot be asked
leaves no entry, the planner's own checks still decide."""

from __future__ import annotations

from lmdoctor.services.backends.hosts.base import HostError, HostGateway
from lmdoctor.services.domain.drain import Preflight
from lmdoctor.services.domain.models import Snapshot


def collect(hosts: HostGateway, snapshot: Snapshot, node: str) -> Preflight:
    """(VM, destination) → the host's incompatibility texts, for every VM of `node` and every reachable peer."""
    src = snapshot.node(node.upper())
    if src is None or src.host is None or not src.host.reachable:
        return {}
    found: dict[tuple[str, str], tuple[str, ...]] = {}
    peers = [n.name for n in snapshot.nodes if n.name != src.name and n.host is not None and n.host.reachable]
    for vm in src.host.vms:
        for peer in peers:
            try:
                result = hosts.move_vm(vm.name, src.name, peer, what_if=True)
            except HostError as exc:
                found[(vm.name, peer)] = (str(exc),)
                continue
            if not result.ok and result.error:
                found[(vm.name, peer)] = (result.error,)
    return found
