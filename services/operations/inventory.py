"""Take one consistent snapshot of a cluster from the directory and every host, concurrently."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timezone

from lmdoctor.services.backends.directory.base import ClusterView, Directory
from lmdoctor.services.backends.hosts.base import HostGateway, HostUnreachable
from lmdoctor.services.domain.badvalues import usable_nodes
from lmdoctor.services.domain.errors import LmdoctorError
from lmdoctor.services.domain.models import (
    ClusterNode,
    ComputerAccount,
    HostReport,
    NodeSnapshot,
    OperatorAccount,
    Snapshot,
)
from lmdoctor.services.domain.spn import delegation_targets, required_host_spns

ProgressFn = Callable[[str, int, int], None]  # (message, done, total)
Operator = tuple[str, str]  # (account name, where the name comes from)


class InventoryError(LmdoctorError):
    """The inventory could not start (no node list, directory unreachable)."""


def cluster_spns(names: Iterable[str], domain: str) -> list[str]:
    """Every SPN whose owners matter: the nodes' own SPNs and their delegation targets."""
    return sorted({s for n in names for s in required_host_spns(n, f"{n}.{domain}") + delegation_targets(n, f"{n}.{domain}")})


def list_nodes(hosts: HostGateway, configured: Iterable[str] = ()) -> list[ClusterNode]:
    configured = [n.upper() for n in configured]
    try:
        return hosts.cluster_nodes()
    except HostUnreachable as exc:
        if configured:
            return [ClusterNode(name=n, state="Unknown") for n in configured]
        raise InventoryError(f"cannot list cluster nodes: {exc}") from None


MAX_HOSTS_AT_ONCE = 64  # a failover cluster's largest size: a whole cluster in one wave


def take_snapshot(directory: Directory, hosts: HostGateway, cluster: str, configured_nodes: Iterable[str] = (),
                  progress: ProgressFn | None = None, max_hosts: int = MAX_HOSTS_AT_ONCE,
                  operator: Operator | None = None) -> Snapshot:
    """One snapshot: the directory read and every host asked at once, so the slowest host sets the pace.

    `operator` (name, where the name comes from): the account that starts moves, read beside the cluster."""
    note = progress or (lambda *_: None)
    note("Listing cluster nodes", 0, 1)
    nodes, bad_names = usable_nodes(list_nodes(hosts, configured_nodes))
    names = [n.name for n in nodes]
    total, done = len(names) + 1, 0
    with ThreadPoolExecutor(max_workers=max(1, min(max_hosts, len(names))) + 1) as pool:
        directory_part = pool.submit(_read_directory, directory, names, cluster, operator)  # never queued behind hosts
        pending = {pool.submit(hosts.host_report, name): name for name in names}
        host_reports: dict[str, HostReport] = {}
        for fut in as_completed(pending):  # report progress as hosts answer, slow ones last
            name = pending[fut]
            host_reports[name] = fut.result()
            done += 1
            note(f"Read host {name}", done, total)
        view, operator_account = directory_part.result()
        note("Read the directory", total, total)
    by_name = {a.name: a for a in view.accounts}
    node_set = set(names)
    return Snapshot(
        domain=directory.domain,
        cluster=cluster.upper(),
        taken_at=datetime.now(timezone.utc),
        nodes=tuple(
            NodeSnapshot(name=n.name, fqdn=_fqdn(by_name.get(n.name), n.name, directory.domain), cluster_state=n.state,
                         account=by_name.get(n.name), host=host_reports[n.name], dns=view.dns.get(n.name, ()))
            for n in nodes
        ),
        spn_owners=view.spn_owners,
        other_delegators=tuple(a for a in view.delegators if a.name not in node_set),
        operator=operator_account,
        dc_clock_offset_s=view.dc_clock_offset_s,
        bad_values=tuple(bad_names + view.bad_values),
    )


def _fqdn(account: ComputerAccount | None, name: str, domain: str) -> str:
    return account.dns_host_name if account and account.dns_host_name else f"{name}.{domain}"


def _read_directory(directory: Directory, names: list[str], cluster: str,
                    operator: Operator | None) -> tuple[ClusterView, OperatorAccount | None]:
    """Accounts, SPN owners, delegators among them (incl. the cluster name object), DNS records and the DC's
    clock in one call; then the operator's account, if one is named."""
    targets = [s for n in names for s in delegation_targets(n, f"{n}.{directory.domain}")]
    view = directory.read_cluster(names, cluster_spns(names, directory.domain), targets, cluster.upper())
    return view, directory.read_operator(*operator) if operator else None
