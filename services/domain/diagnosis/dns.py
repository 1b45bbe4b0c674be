"""Stale DNS: a node's A records must point at addresses the node actually has."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from lmdoctor.services.domain.diagnosis.common import finding
from lmdoctor.services.domain.models import Finding, Severity, Snapshot


def stale(snapshot: Snapshot) -> Iterator[Finding]:
    owners_of: dict[str, set[str]] = defaultdict(set)
    for node in snapshot.nodes:
        for record in node.dns:
            owners_of[record.address].add(node.name)
    for node in snapshot.nodes:
        host = node.host
        if not node.dns:
            continue
        addresses = host.addresses if host and host.reachable else None
        known = set(addresses) if addresses is not None else None
        bad = []
        for r in node.dns:
            shared = owners_of[r.address] - {node.name}
            foreign = known is not None and r.address not in known
            if foreign or (known is None and shared):
                age = "static" if r.static else f"dynamic, timestamp {r.timestamp:%Y-%m-%d %H:%M} UTC"
                why = f"also {', '.join(sorted(shared))}'s address" if shared else f"not an address of {node.name}"
                bad.append((r, f"{node.name} A {r.address} ({age}): {why}"))
        if not bad:
            continue
        yield finding(
            "dns.stale", Severity.ERROR,
            f"{node.name} resolves to {len(bad)} address(es) it does not have",
            "A stale A record sends Kerberos to another host: the ticket is for the wrong principal (0x80090322).",
            source=node.name, evidence=[text for _, text in bad]
            + ([f"{node.name} has addresses: {', '.join(addresses)}"] if addresses else []),
            remedy="Delete the stale records: " + "; ".join(
                f"Remove-DnsServerResourceRecord -ZoneName {snapshot.domain} -Name {node.name} -RRType A "
                f"-RecordData {r.address}" for r, _ in bad) + f"; then ipconfig /registerdns on {node.name}",
        )
