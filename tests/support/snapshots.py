"""Hand-built snapshots for rule, coverage and matrix tests: no lab, no directory, no hosts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from lmdoctor.services.domain import replmeta
from lmdoctor.services.domain.models import (
    UAC_TRUSTED_TO_AUTH_FOR_DELEGATION,
    UAC_WORKSTATION_TRUST_ACCOUNT,
    AttributeChange,
    AuthType,
    ComputerAccount,
    DnsRecord,
    HostReport,
    NodeSnapshot,
    Snapshot,
    VMHostSettings,
)
from lmdoctor.services.domain.spn import delegation_targets, required_host_spns, spn_key

# --- a four-node cluster, contoso.local -------------------------------------------------------------
DOMAIN = "contoso.local"
CLUSTER = "HVCLUSTER"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
CHANGED = NOW - timedelta(days=30)
ISSUED = NOW - timedelta(hours=2)
GOOD_UAC = UAC_WORKSTATION_TRUST_ACCOUNT | UAC_TRUSTED_TO_AUTH_FOR_DELEGATION
NAMES = ("HV01", "HV02", "HV03", "HV04")
ADDRESS = {n: f"10.0.10.{11 + i}" for i, n in enumerate(NAMES)}


def fqdn(name: str) -> str:
    return f"{name}.{DOMAIN}"


def dn(name: str) -> str:
    return f"CN={name},CN=Computers,DC=contoso,DC=local"


def account(name: str, peers: tuple[str, ...] = NAMES, *, delegate: tuple[str, ...] | None = None,
            uac: int = GOOD_UAC, spns: tuple[str, ...] | None = None,
            when_changed: datetime | None = CHANGED) -> ComputerAccount:
    if delegate is None:
        delegate = tuple(s for p in peers if p != name for s in delegation_targets(p, fqdn(p)))
    return ComputerAccount(name=name, dn=dn(name), dns_host_name=fqdn(name),
                           spns=required_host_spns(name, fqdn(name)) if spns is None else spns,
                           uac=uac, allowed_to_delegate_to=delegate, when_changed=when_changed,
                           attribute_changes=changes(CHANGED))


def changes(when: datetime, *attributes: str) -> tuple[AttributeChange, ...]:
    """Replication metadata: `attributes` (default: the account's own delegation list, bits and SPNs) last
    changed at `when`."""
    own = (replmeta.ALLOWED_TO_DELEGATE_TO, replmeta.USER_ACCOUNT_CONTROL, replmeta.SERVICE_PRINCIPAL_NAME)
    return tuple(AttributeChange(attribute=a, changed=when) for a in attributes or own)


def settings(auth: AuthType = AuthType.KERBEROS, enabled: bool = True) -> VMHostSettings:
    return VMHostSettings(migration_enabled=enabled, auth_type=auth)


def host(name: str, *, auth: AuthType = AuthType.KERBEROS, enabled: bool = True, issued: datetime | None = ISSUED,
         addresses: tuple[str, ...] | None = None) -> HostReport:
    return HostReport(name=name, settings=settings(auth, enabled), tickets_issued=issued,
                      addresses=(ADDRESS[name],) if addresses is None else addresses)


def record(name: str, address: str, *, static: bool = False) -> DnsRecord:
    return DnsRecord(name=name, address=address, timestamp=None if static else NOW - timedelta(hours=3), ttl=1200)


def node(name: str, peers: tuple[str, ...] = NAMES, **changes) -> NodeSnapshot:
    base = dict(name=name, fqdn=fqdn(name), account=account(name, peers), host=host(name),
                dns=(record(name, ADDRESS[name]),))
    base.update(changes)
    return NodeSnapshot(**base)


def owners_for(names: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """What the inventory's find_spn_owners returns for a clean cluster (cifs/ keys resolve to HOST/ owners)."""
    owners: dict[str, tuple[str, ...]] = {}
    for n in names:
        for s in required_host_spns(n, fqdn(n)) + delegation_targets(n, fqdn(n)):
            owners[spn_key(s)] = (n,)
    return owners


def snapshot(nodes: list[NodeSnapshot] | None = None, *, spn_owners: dict[str, tuple[str, ...]] | None = None,
             other_delegators: tuple[ComputerAccount, ...] = ()) -> Snapshot:
    nodes = nodes if nodes is not None else [node(n) for n in NAMES]
    names = tuple(n.name for n in nodes)
    return Snapshot(domain=DOMAIN, cluster=CLUSTER, taken_at=NOW, nodes=tuple(nodes),
                    spn_owners=owners_for(names) if spn_owners is None else spn_owners,
                    other_delegators=other_delegators)


def replace(snap: Snapshot, name: str, **changes) -> Snapshot:
    return snap.model_copy(update={"nodes": tuple(n.model_copy(update=changes) if n.name == name else n
                                                    for n in snap.nodes)})


def with_account(snap: Snapshot, name: str, **changes) -> Snapshot:
    current = snap.node(name).account
    return replace(snap, name, account=current.model_copy(update=changes))


def with_host(snap: Snapshot, name: str, **changes) -> Snapshot:
    current = snap.node(name).host
    return replace(snap, name, host=current.model_copy(update=changes))


def without(values: tuple[str, ...], *drop: str) -> tuple[str, ...]:
    return tuple(v for v in values if v not in drop)


# --- the same cluster with SIDs, for coverage and RBCD ------------------------------------------------
DOMAIN_SID = "S-1-5-21-1004336348-1177238915-682003330"
SID = {n: f"{DOMAIN_SID}-{1101 + i}" for i, n in enumerate(NAMES)}
HOSTS_GROUP = f"{DOMAIN_SID}-1201"
NESTED_GROUP = f"{DOMAIN_SID}-1202"


def cluster(**accounts) -> Snapshot:
    nodes = tuple(node(n, account=accounts[n]) if n in accounts else
                  node(n, account=account(n).model_copy(update={"sid": SID[n]})) for n in NAMES)
    return Snapshot(domain=DOMAIN, cluster=CLUSTER, taken_at=NOW, nodes=nodes, spn_owners=owners_for(NAMES))


def hv01_lacking(*dropped: str, **changes) -> object:
    a = account("HV01")
    return a.model_copy(update={"sid": SID["HV01"], "allowed_to_delegate_to": without(a.allowed_to_delegate_to, *dropped),
                                **changes})


def pair_findings(findings, src: str, dst: str):
    return [f for f in findings if f.code.startswith("delegation.") and f.source == src and f.target in (dst, None)]


# --- a synthetic cluster of any size, example.test ---------------------------------------------------
SYNTHETIC_NOW = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)


def synthetic(count: int, lacking: Iterable[tuple[int, int]] = (), kerberos_only: Iterable[int] = ()) -> Snapshot:
    """A cluster of `count` nodes N001…: full delegation, except the (source, destination) indexes in `lacking`."""
    names = [f"N{i:03d}" for i in range(1, count + 1)]
    lacking, kerberos_only = set(lacking), set(kerberos_only)
    nodes = []
    for i, name in enumerate(names):
        values = tuple(v for j, peer in enumerate(names) if j != i and (i, j) not in lacking
                       for v in delegation_targets(peer, f"{peer}.example.test"))
        uac = UAC_WORKSTATION_TRUST_ACCOUNT | (0 if i in kerberos_only else UAC_TRUSTED_TO_AUTH_FOR_DELEGATION)
        account = ComputerAccount(name=name, dn=f"CN={name},OU=Hosts,DC=example,DC=test",
                                  dns_host_name=f"{name}.example.test", uac=uac, allowed_to_delegate_to=values)
        nodes.append(NodeSnapshot(name=name, fqdn=f"{name}.example.test", account=account,
                                  host=HostReport(name=name)))
    return Snapshot(domain="example.test", cluster="BIGCLUSTER", taken_at=SYNTHETIC_NOW, nodes=tuple(nodes))
