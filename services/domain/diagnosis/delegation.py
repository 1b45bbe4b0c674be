"""Constrained delegation rules: every source must delegate to every destination's services."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from lmdoctor.services.domain import fixes, vm_storage
from lmdoctor.services.domain.coverage import (
    PairCoverage,
    Verdict,
    coverage,
    delegated,
    needed_keys,
    rbcd_grant,
    target_keys,
    values_verdict,
)
from lmdoctor.services.domain.diagnosis.common import finding
from lmdoctor.services.domain.models import ComputerAccount, Finding, FixPlan, NodeSnapshot, Severity, Snapshot
from lmdoctor.services.domain.nearmiss import NearMiss, near_misses
from lmdoctor.services.domain.spn import Spn, SpnError, delegation_targets, spn_key

KERBEROS_ONLY_CAUSE = ("On Windows Server 2016 and later a live migration started remotely (WinRM, as from a "
                       "jump host) needs protocol transition: 'Kerberos only' delegation fails with 0x8009030E.")


def _accounted(snapshot: Snapshot) -> list[tuple[NodeSnapshot, ComputerAccount]]:
    """The nodes whose computer account was read, each with that account."""
    return [(n, n.account) for n in snapshot.nodes if n.account is not None]


def missing(snapshot: Snapshot) -> Iterator[Finding]:
    """One finding per pair whose source lacks KCD values, unless RBCD covers it; its severity is the pair's
    verdict on the values (lmdoctor.services.domain.coverage), which the matrix, walkthrough and exit code share."""
    nodes = [(n, account, target_keys(n)) for n, account in _accounted(snapshot)]
    for src, account, _ in nodes:
        have = delegated(src)
        misses: list[NearMiss] | None = None  # the source's near misses, found once when first needed
        for dst, _, needed in nodes:
            if dst is src or needed <= have:  # a covered pair (most of a healthy grid): one set test
                continue
            pair = coverage(src, dst, have)
            if pair.rbcd:
                continue
            judged = values_verdict(pair)
            misses = misses_of(snapshot, src) if misses is None else misses
            close = [m for m in misses if m.meant in pair.missing]
            yield finding(
                "delegation.missing", judged.severity or Severity.INFO, _missing_message(pair, judged),
                _missing_cause(pair, judged), source=src.name, target=dst.name,
                evidence=[f"{src.name} msDS-AllowedToDelegateTo lacks: {v}" for v in pair.missing]
                + [f"{src.name} msDS-AllowedToDelegateTo has a near miss: {m.describe()}" for m in close]
                + [f"{src.name} holds {len(account.allowed_to_delegate_to)} delegation values in all"],
                fix=FixPlan(summary=f"Add {len(pair.missing)} values to {src.name}'s msDS-AllowedToDelegateTo",
                            actions=(fixes.add_delegation(account, pair.missing, dst.name),),
                            purge_hosts=(src.name,)),
            )


def misses_of(snapshot: Snapshot, src: NodeSnapshot) -> list[NearMiss]:
    """The source's delegation values that almost name a peer's cifs/VSMS SPN (and so cover nothing)."""
    if src.account is None:
        return []
    accounted = tuple((d.name, d.fqdn) for d, _ in _accounted(snapshot))
    have = delegated(src)
    if have <= _all_targets(accounted) and have.isdisjoint(target_keys(src)):  # each names a peer's service
        return []
    peers = [d for d, _ in _accounted(snapshot) if d is not src]
    if have <= frozenset().union(*(target_keys(d) for d in peers)):  # the same, where two nodes share a name
        return []
    wanted = [v for d in peers for v in delegation_targets(d.name, d.fqdn)]
    return near_misses(src.account.allowed_to_delegate_to, wanted, [v for v in wanted if spn_key(v) not in have])


@lru_cache(maxsize=16)  # one per snapshot's node list, asked once per source
def _all_targets(nodes: tuple[tuple[str, str], ...]) -> frozenset[str]:
    """The comparison keys of every KCD value any source may need: each node's cifs and VSMS SPNs."""
    return frozenset(k for name, fqdn in nodes for k in needed_keys(name, fqdn))


def near_miss(snapshot: Snapshot) -> Iterator[Finding]:
    """Values that almost name a needed SPN: pointed out with the value they most likely meant."""
    for src, account in _accounted(snapshot):
        misses = misses_of(snapshot, src)
        if not misses:
            continue
        yield finding(
            "delegation.near_miss", Severity.WARNING,
            f"{src.name} holds {len(misses)} delegation value(s) that almost name a peer's service and cover nothing",
            "The KDC grants only the exact SPN asked for: a value with a trailing dot, no host, a port or a typo "
            "matches no request, so it delegates nothing. Add the value it meant (delegation.missing does) and "
            "remove the near miss.",
            source=src.name,
            evidence=[f"{src.name} msDS-AllowedToDelegateTo: {m.describe()}" for m in misses],
            fix=FixPlan(summary=f"Optional cleanup: remove {len(misses)} near-miss value(s) from {src.name}",
                        actions=(fixes.remove_delegation(account, [m.value for m in misses], "near misses"),),
                        purge_hosts=(src.name,), cleanup=True),
        )


def rbcd_alternative(snapshot: Snapshot, source: str, destination: str) -> FixPlan | None:
    """The alternative fix of a missing pair: RBCD on the destination naming the source (None when the
    source's SID or either account is unknown). It covers every SPN of the destination, by either name."""
    src, dst = snapshot.node(source), snapshot.node(destination)
    if src is None or dst is None or src.account is None or dst.account is None or not src.account.sid:
        return None
    return FixPlan(summary=f"RBCD: let {src.name} delegate to {dst.name} (a write on {dst.name} only)",
                   actions=(fixes.grant_rbcd(dst.account, src.account),), purge_hosts=(src.name,))


def _missing_message(pair: PairCoverage, judged: Verdict) -> str:
    src, dst, gap = pair.source, pair.destination, f"{len(pair.missing)} of 4 services missing"
    if pair.unconstrained:
        return f"{src} lacks constrained delegation to {dst} ({gap}); moves work only through unconstrained delegation"
    if len(judged.failing_names) == len(pair.names):
        return f"{src} may not delegate to {dst}: {gap}"
    works = next(n for n in pair.names if n not in judged.failing_names)
    return (f"{src} may delegate to {dst} only by the name {works}: a move addressed as "
            f"{', '.join(judged.failing_names)} fails ({gap})")


def _missing_cause(pair: PairCoverage, judged: Verdict) -> str:
    src, dst = pair.source, pair.destination
    need = (f"The source's computer object ({src}) must be trusted to delegate to the destination's cifs and "
            "Microsoft Virtual System Migration Service, under each name a move may use, or the destination's "
            f"resource-based delegation must grant it (alternative fix: lmdoctor fix --finding "
            f"delegation.missing:{src}:{dst} --rbcd, a write on {dst} only, no Domain Admin). ")
    if pair.unconstrained:
        return need + "Unconstrained delegation covers it today, but it is a risk and Credential Guard blocks it."
    if len(judged.failing_names) == len(pair.names):
        return need + (f"Without them Move-VM {src}→{dst} fails with 0x8009030E whether addressed as "
                       f"{pair.names[0]} or {pair.names[1]}.")
    return need + ("The KDC grants only the exact SPN asked for: a move addressed as "
                   f"{' or '.join(judged.failing_names)} asks for SPNs with that name and is refused (0x8009030E); "
                   f"addressed as {next(n for n in pair.names if n not in judged.failing_names)} it works.")


@lru_cache(maxsize=65536)  # a 64-node mesh holds ~16k values but only 4 per node are distinct
def _host_of(value: str) -> str | None:
    try:
        return Spn.parse(value).host.split(".")[0].upper()
    except SpnError:
        return None


def wrong_object(snapshot: Snapshot) -> Iterator[Finding]:
    """Delegation values that name the holder's own services, or that sit on the cluster name object."""
    node_names = {n.name for n in snapshot.nodes}
    holders = [(a, n.name) for n, a in _accounted(snapshot)]
    holders += [(a, a.name) for a in snapshot.other_delegators if a.name == snapshot.cluster]
    for account, name in holders:
        if name == snapshot.cluster:
            stray = [v for v in account.allowed_to_delegate_to if _host_of(v) in node_names]
            why = "the cluster name object does not run Move-VM; each source node's own object needs them"
        elif name not in "\n".join(account.allowed_to_delegate_to).upper():  # no value's host can be it
            stray = []
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
    """A node without protocol transition whose moves rely on KCD: to a peer its RBCD does not cover, or to the
    cifs of a file server holding VMs (a remote move reaches the share by KCD; the file servers' own accounts
    are not read, so an RBCD grant on them is not known)."""
    nodes = _accounted(snapshot)
    servers = sorted({s.split(".")[0].upper() for s in vm_storage.cluster_servers(snapshot)})
    for node, a in nodes:
        if a.uac is None or a.protocol_transition or a.unconstrained or not (a.allowed_to_delegate_to or servers):
            continue
        relying = [d for d, _ in nodes if d is not node and not rbcd_grant(d.account, a)]  # RBCD needs no transition
        if relying or servers:
            yield finding(
                "delegation.kerberos_only", Severity.ERROR,
                f"{node.name} delegates with 'Kerberos only': remotely started moves from it fail",
                KERBEROS_ONLY_CAUSE, source=node.name,
                evidence=[f"{node.name} userAccountControl = {a.uac:#x} (0x1000000 TRUSTED_TO_AUTH_FOR_DELEGATION not set)",
                          f"{node.name} has {len(a.allowed_to_delegate_to)} constrained delegation values"]
                + ([f"VMs on SMB shares of {', '.join(servers)}: a remote move reaches them by {node.name}'s KCD to "
                    "cifs/<file server>, which needs protocol transition (the file servers' accounts are not read: "
                    "an RBCD grant on them, which would cover it, is not known)"] if servers else []),
                fix=FixPlan(summary=f"Set 'use any authentication protocol' on {node.name}",
                            actions=(fixes.enable_protocol_transition(a),), purge_hosts=(node.name,)),
            )


def unconstrained(snapshot: Snapshot) -> Iterator[Finding]:
    for node, a in _accounted(snapshot):
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
