"""SPN rules: each node registers its services once, and nobody else holds them."""

from __future__ import annotations

from collections.abc import Iterator

from lmdoctor.services.domain import fixes
from lmdoctor.services.domain.diagnosis.common import finding
from lmdoctor.services.domain.models import VSMS, Finding, FixPlan, Severity, Snapshot
from lmdoctor.services.domain.spn import registered_form, required_host_spns, spn_key

CRITICAL_SERVICES = {"host", VSMS.lower()}


def missing(snapshot: Snapshot) -> Iterator[Finding]:
    for node in snapshot.nodes:
        if node.account is None:
            yield finding("spn.missing", Severity.ERROR, f"No computer object found for {node.name}",
                          f"{node.name} is a cluster node but the directory has no computer account named {node.name}$.",
                          source=node.name, evidence=[f"search (sAMAccountName={node.name}$) returned nothing"],
                          remedy="Check the node's domain membership (Test-ComputerSecureChannel) and the profile's domain.")
            continue
        have = {spn_key(s) for s in node.account.spns}
        lacking = [s for s in required_host_spns(node.name, node.fqdn) if spn_key(s) not in have]
        if not lacking:
            continue
        critical = any(s.split("/")[0].lower() in CRITICAL_SERVICES for s in lacking)
        yield finding(
            "spn.missing", Severity.ERROR if critical else Severity.WARNING,
            f"{node.name} lacks {len(lacking)} service principal names",
            "Kerberos can only ticket a service whose SPN is registered on the host's account; a missing VSMS or "
            "HOST SPN breaks live migration to this node.",
            source=node.name, evidence=[f"{node.name} servicePrincipalName lacks: {s}" for s in lacking],
            fix=FixPlan(summary=f"Register {len(lacking)} SPNs on {node.name}", actions=(fixes.add_spns(node.account, lacking),),
                        purge_hosts=(node.name,)),
        )


def duplicates(snapshot: Snapshot) -> Iterator[Finding]:
    """One finding per (node, other holder), listing every node SPN they share."""
    for node in snapshot.nodes:
        shared: dict[str, list[str]] = {}
        for spn in dict.fromkeys(registered_form(s) for s in required_host_spns(node.name, node.fqdn)):
            for other in snapshot.spn_owners.get(spn_key(spn), ()):
                if other != node.name:
                    shared.setdefault(other, []).append(spn)
        for other, spns_ in sorted(shared.items()):
            yield finding(
                "spn.duplicate", Severity.ERROR,
                f"{other} also holds {len(spns_)} of {node.name}'s SPNs",
                "A duplicate SPN makes the KDC refuse or mis-issue tickets (KDC event 11, 0x80090322 'The target "
                "principal name is incorrect').",
                source=other, target=node.name,
                evidence=[f"servicePrincipalName={s} is on {node.name} and {other}" for s in spns_],
                remedy=f"Remove them from {other} if it is stale: "
                + "; ".join(f"setspn -D '{s}' {other}" for s in spns_),
            )
