"""Host rules: reachability, migration settings agreeing across nodes, and fresh tickets."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from lmdoctor.services.domain import fixes, replmeta
from lmdoctor.services.domain.coverage import rbcd_names
from lmdoctor.services.domain.diagnosis.common import finding
from lmdoctor.services.domain.models import (
    AttributeChange,
    AuthType,
    Finding,
    FixPlan,
    NodeSnapshot,
    Severity,
    Snapshot,
    VMHostSettings,
)

# What a host's cached tickets depend on: its own delegation list, delegation bits and SPNs, and the
# destinations' RBCD grants. Other writes (lastLogonTimestamp, the machine password…) do not matter.
OWN_ATTRIBUTES = (replmeta.ALLOWED_TO_DELEGATE_TO, replmeta.USER_ACCOUNT_CONTROL, replmeta.SERVICE_PRINCIPAL_NAME)
PEER_ATTRIBUTES = (replmeta.ALLOWED_TO_ACT,)


def _reporting(snapshot: Snapshot) -> list[tuple[NodeSnapshot, VMHostSettings]]:
    """The nodes that answered with their migration settings, each with those settings."""
    return [(n, n.host.settings) for n in snapshot.nodes if n.host and n.host.reachable and n.host.settings]


def unreachable(snapshot: Snapshot) -> Iterator[Finding]:
    for node in snapshot.nodes:
        if node.host is not None and not node.host.reachable:
            yield finding("host.unreachable", Severity.ERROR, f"{node.name} did not answer over WinRM",
                          "lmdoctor could not read the host's settings, VMs and events; checks that need them are skipped "
                          "for this node.", source=node.name, evidence=[node.host.error or "no answer"],
                          remedy=f"Test-WSMan {node.fqdn}; check ports 5985/5986 and that the host is up.")


def migration_disabled(snapshot: Snapshot) -> Iterator[Finding]:
    for node, settings in _reporting(snapshot):
        if not settings.migration_enabled:
            yield finding("migration.disabled", Severity.ERROR, f"Live migration is disabled on {node.name}",
                          "A host with VirtualMachineMigrationEnabled = False neither sends nor receives live migrations.",
                          source=node.name, evidence=[f"Get-VMHost {node.name}: VirtualMachineMigrationEnabled = False"],
                          fix=FixPlan(summary=f"Enable-VMMigration on {node.name}",
                                      actions=(fixes.enable_migration(node.name),)))


def auth_types(snapshot: Snapshot) -> Iterator[Finding]:
    nodes = _reporting(snapshot)
    counts = Counter(s.auth_type for _, s in nodes)
    evidence = [f"Get-VMHost {n.name}: VirtualMachineMigrationAuthenticationType = {s.auth_type.value}"
                for n, s in nodes]
    credssp = [n for n, s in nodes if s.auth_type == AuthType.CREDSSP]
    if len(counts) > 1:
        yield finding("auth.mismatch", Severity.ERROR,
                      f"Nodes disagree on migration authentication: {', '.join(f'{k.value}×{v}' for k, v in counts.items())}",
                      "Source and destination must use the same protocol; a CredSSP/Kerberos mismatch fails with "
                      "0x8009030D. Kerberos with constrained delegation is the standard for clusters.",
                      evidence=evidence, target=credssp[0].name if len(credssp) == 1 else None,
                      fix=FixPlan(summary="Set Kerberos on " + ", ".join(n.name for n in credssp),
                                  actions=tuple(fixes.set_auth_type(n.name, AuthType.KERBEROS) for n in credssp)))
        return
    for n in credssp:
        yield finding("auth.credssp", Severity.WARNING, f"{n.name} uses CredSSP for live migration",
                      "CredSSP only works when the move is started in a session on the source host (not from a jump "
                      "host over WinRM), and Credential Guard — on by default in Windows Server 2025 — blocks it. "
                      "Use it only as a short, controlled window.",
                      source=n.name, evidence=[e for e in evidence if f" {n.name}:" in e],
                      fix=FixPlan(summary=f"Return {n.name} to Kerberos",
                                  actions=(fixes.set_auth_type(n.name, AuthType.KERBEROS),)))


def ticket_relevant_change(snapshot: Snapshot, node: NodeSnapshot) -> tuple[str, AttributeChange] | None:
    """The latest change to an attribute `node`'s delegation depends on, made after its SYSTEM TGT was
    issued, as (account name, change); None when there is none or the times are unknown. A peer's RBCD
    descriptor counts only when it names the node (its SID or one of its groups)."""
    issued = node.host.tickets_issued if node.host else None
    if issued is None or node.account is None:
        return None
    candidates = [(node.name, node.account.last_change(OWN_ATTRIBUTES))]
    # a peer without a descriptor names nobody, unless the node's SID is unknown (then every peer counts)
    peers = snapshot.nodes if node.account.sid is None else [
        p for p in snapshot.nodes if p.account and (p.account.rbcd_principals or p.account.rbcd_denied)]
    candidates += [(peer.name, peer.account.last_change(PEER_ATTRIBUTES)) for peer in peers
                   if peer.name != node.name and peer.account and rbcd_names(peer.account, node.account)]
    later = [(name, c) for name, c in candidates if c is not None and c.changed > issued]
    return max(later, key=lambda pair: pair[1].changed, default=None)


def stale_tickets(snapshot: Snapshot) -> Iterator[Finding]:
    for node, _ in _reporting(snapshot):
        found = ticket_relevant_change(snapshot, node)
        issued = node.host.tickets_issued if node.host else None
        if found is None or issued is None:  # a change is found only when the issue time is known
            continue
        account, change = found
        yield finding("tickets.stale", Severity.ERROR,
                      f"{node.name}'s Kerberos tickets predate a delegation change",
                      "The SYSTEM logon session (which VMMS runs as) still holds tickets issued before the delegation "
                      "change; they are refreshed in ~10 h or on reboot, or at once with klist purge. Only the "
                      "delegation attributes count (their replication metadata), not whenChanged, which every "
                      "logon bookkeeping or password change moves.",
                      source=node.name,
                      evidence=[f"{account}$ {change.attribute} changed {change.changed:%Y-%m-%d %H:%M:%S} UTC "
                                "(replication metadata)",
                                f"SYSTEM TGT issued {issued:%Y-%m-%d %H:%M:%S} UTC (klist -li 0x3e7)"],
                      fix=FixPlan(summary=f"klist purge -li 0x3e7 on {node.name}", actions=(), purge_hosts=(node.name,)))
