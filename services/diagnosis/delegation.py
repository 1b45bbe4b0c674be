"""Constrained delegation rules: every source must delegate to every destination's services."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from services import fixes
from services.diagnosis.common import finding
from services.models import Finding, FixPlan, NodeSnapshot, Severity, Snapshot
from services.spn import Spn, SpnError, delegation_targets, spn_key

KERBEROS_ONLY_CAUSE = ("On Windows Server 2016 and later a live migration started remotely (WinRM, as from a "
                       "jump host) needs protocol transition: 'Kerberos only' delegation fails with 0x8009030E.")


def _accounted(snapshot: Snapshot) -> list[NodeSnapshot]:
    return [n for n in snapshot.nodes if n.account is not None]


def missing(snapshot: Snapshot) -> Iterator[Finding]:
    nodes = _accounted(snapshot)
    for src in nodes:
        have = {spn_key(v) for v in src.account.allowed_to_delegate_to}
        for dst in nodes:
            if dst is src:
                continue
            needed = delegation_targets(dst.name, dst.fqdn)
            lacking = [v for v in needed if spn_key(v) not in have]
            if not lacking:
                continue
            yield finding(
                "delegation.missing", Severity.ERROR,
                f"{src.name} may not delegate to {dst.name}: {len(lacking)} of {len(needed)} services missing",
                f"The source's computer object ({src.name}) must be trusted to delegate to the destination's cifs "
                f"and Microsoft Virtual System Migration Service; without them Move-VM {src.name}→{dst.name} fails "
                "with 0x8009030E.",
                source=src.name, target=dst.name,
                evidence=[f"{src.name} msDS-AllowedToDelegateTo lacks: {v}" for v in lacking]
                + [f"{src.name} holds {len(src.account.allowed_to_delegate_to)} delegation values in all"],
                fix=FixPlan(summary=f"Add {len(lacking)} values to {src.name}'s msDS-AllowedToDelegateTo",
                            actions=(fixes.add_delegation(src.account, lacking, dst.name),), purge_hosts=(src.name,)),
            )


@lru_cache(maxsize=65536)  # a 64-node mesh holds ~16k values but only 4 per node are distinct
def _host_of(value: str) -> str | None:
    try:
        return Spn.parse(value).host.split(".")[0].upper()
    except SpnError:
        return None


def wrong_object(snapshot: Snapshot) -> Iterator[Finding]:
    """Delegation values that name the holder's own services, or that sit on the cluster name object."""
    node_names = {n.name for n in snapshot.nodes}
    holders = [(n.account, n.name) for n in _accounted(snapshot)]
    holders += [(a, a.name) for a in snapshot.other_delegators if a.name == snapshot.cluster]
    for account, name in holders:
        if name == snapshot.cluster:
            stray = [v for v in account.allowed_to_delegate_to if _host_of(v) in node_names]
            why = "the cluster name object does not run Move-VM; each source node's own object needs them"
        else:
            stray = [v for v in account.allowed_to_delegate_to if _host_of(v) == name]
            why = f"delegation to {name}'s own services is useless; the other nodes' objects need them"
        if not stray:
            continue
        sources = [n for n in sorted(node_names) if n != name]
        yield finding(
            "delegation.wrong_object", Severity.WARNING,
            f"{name} holds {len(stray)} delegation values that belong on other objects",
            f"Delegation set on the wrong computer object: {why}. Direction matters: the SOURCE of a move must be "
            f"allowed to delegate to the DESTINATION's services (here: {', '.join(sources)} → {name}).",
            source=name, target=name if name != snapshot.cluster else None,
            evidence=[f"{name} msDS-AllowedToDelegateTo has: {v}" for v in stray],
            fix=FixPlan(summary=f"Optional cleanup: remove the misplaced values from {name} (only when you ask)",
                        actions=(fixes.remove_delegation(account, stray, "set on the wrong object"),),
                        purge_hosts=(name,) if name in node_names else (), cleanup=True),
        )


def kerberos_only(snapshot: Snapshot) -> Iterator[Finding]:
    for node in _accounted(snapshot):
        a = node.account
        if a.uac is not None and a.allowed_to_delegate_to and not a.protocol_transition and not a.unconstrained:
            yield finding(
                "delegation.kerberos_only", Severity.ERROR,
                f"{node.name} delegates with 'Kerberos only': remotely started moves from it fail",
                KERBEROS_ONLY_CAUSE, source=node.name,
                evidence=[f"{node.name} userAccountControl = {a.uac:#x} (0x1000000 TRUSTED_TO_AUTH_FOR_DELEGATION not set)",
                          f"{node.name} has {len(a.allowed_to_delegate_to)} constrained delegation values"],
                fix=FixPlan(summary=f"Set 'use any authentication protocol' on {node.name}",
                            actions=(fixes.enable_protocol_transition(a),), purge_hosts=(node.name,)),
            )


def unconstrained(snapshot: Snapshot) -> Iterator[Finding]:
    for node in _accounted(snapshot):
        a = node.account
        if a.unconstrained:
            yield finding(
                "delegation.unconstrained", Severity.WARNING,
                f"{node.name} is trusted for unconstrained delegation",
                "Unconstrained delegation (0x80000) lets the host impersonate users to any service: a security "
                "risk, and blocked by Credential Guard. Constrained delegation to the peers' cifs and VSMS is enough.",
                source=node.name,
                evidence=[f"{node.name} userAccountControl = {a.uac:#x} (0x80000 TRUSTED_FOR_DELEGATION set)"],
                fix=FixPlan(summary=f"Clear unconstrained delegation on {node.name}",
                            actions=(fixes.clear_unconstrained(a),)
                            + (() if a.protocol_transition else (fixes.enable_protocol_transition(a),)),
                            purge_hosts=(node.name,)),
            )
