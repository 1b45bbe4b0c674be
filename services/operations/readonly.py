"""Read-only mode, enforced where every write and every live move passes: the session's two gateways.

A read-only session (--read-only, or a profile's `read_only = true`) hands every front end a directory
and a host gateway that read as usual and refuse each write and each live Move-VM with ReadOnlyError,
so a screen or command that forgets to ask still cannot change anything. The pre-flight
(Move-VM -WhatIf) is a read and still runs."""

from __future__ import annotations

from collections.abc import Iterable

from lmdoctor.services.backends.directory.base import ClusterView, Directory
from lmdoctor.services.backends.hosts.base import HostGateway, ProgressCallback
from lmdoctor.services.domain.models import (
    AuthType,
    ClusterNode,
    ComputerAccount,
    DnsRecord,
    HostReport,
    Incompatibility,
    MoveResult,
    OperatorAccount,
    VirtualMachine,
)
from lmdoctor.services.operations.remediation import ReadOnlyError

LIVE_MOVE = "a live move (the pre-flight, Move-VM -WhatIf, is allowed)"


def refusal(what: str) -> ReadOnlyError:
    """The one refusal every front end shows: `read-only: refusing <what>; nothing was changed`."""
    return ReadOnlyError(f"read-only: refusing {what}; nothing was changed (drop --read-only / the profile's "
                         "read_only to allow it)")


class ReadOnlyDirectory:
    """A Directory that reads and refuses every write."""

    def __init__(self, directory: Directory) -> None:
        self._directory = directory
        self.domain = directory.domain

    def read_computers(self, names: Iterable[str]) -> list[ComputerAccount]:
        return self._directory.read_computers(names)

    def find_spn_owners(self, spns: Iterable[str]) -> dict[str, tuple[str, ...]]:
        return self._directory.find_spn_owners(spns)

    def read_dns_records(self, names: Iterable[str]) -> dict[str, tuple[DnsRecord, ...]]:
        return self._directory.read_dns_records(names)

    def read_cluster(self, names: Iterable[str], spns: Iterable[str], targets: Iterable[str],
                     cluster: str | None = None) -> ClusterView:
        return self._directory.read_cluster(names, spns, targets, cluster)

    def read_operator(self, name: str, how: str) -> OperatorAccount:
        return self._directory.read_operator(name, how)

    def read_values(self, dn: str, attribute: str) -> tuple[str, ...]:
        return self._directory.read_values(dn, attribute)

    def add_values(self, dn: str, attribute: str, values: Iterable[str]) -> None:
        raise refusal(f"to add {attribute} values to {dn}")

    def remove_values(self, dn: str, attribute: str, values: Iterable[str]) -> None:
        raise refusal(f"to remove {attribute} values from {dn}")

    def replace_binary(self, dn: str, attribute: str, before: bytes | None, after: bytes | None) -> None:
        raise refusal(f"to replace {attribute} of {dn}")

    def change_uac(self, dn: str, set_bits: int, clear_bits: int) -> int:
        raise refusal(f"to change userAccountControl of {dn}")

    def close(self) -> None:
        self._directory.close()


class ReadOnlyHosts:
    """A HostGateway that reads, runs pre-flights, and refuses every setting change and live move."""

    def __init__(self, hosts: HostGateway) -> None:
        self._hosts = hosts

    def cluster_nodes(self) -> list[ClusterNode]:
        return self._hosts.cluster_nodes()

    def host_report(self, host: str) -> HostReport:
        return self._hosts.host_report(host)

    def get_vm(self, host: str, vm: str) -> VirtualMachine | None:
        return self._hosts.get_vm(host, vm)

    def compare_vm(self, vm: str, source: str, destination: str) -> tuple[Incompatibility, ...]:
        return self._hosts.compare_vm(vm, source, destination)

    def move_vm(self, vm: str, source: str, destination: str, what_if: bool = False,
                progress: ProgressCallback | None = None) -> MoveResult:
        if not what_if:
            raise refusal(LIVE_MOVE)
        return self._hosts.move_vm(vm, source, destination, what_if=True, progress=progress)

    def set_auth_type(self, host: str, auth_type: AuthType) -> None:
        raise refusal(f"to change {host}'s live-migration authentication type")

    def set_migration_enabled(self, host: str, enabled: bool) -> None:
        raise refusal(f"to {'enable' if enabled else 'disable'} live migration on {host}")

    def purge_tickets(self, host: str) -> None:
        raise refusal(f"to purge {host}'s Kerberos tickets")

    def close(self) -> None:
        self._hosts.close()


def guard(directory: Directory, hosts: HostGateway) -> tuple[Directory, HostGateway]:
    """The read-only gateways over these (idempotent)."""
    return (directory if isinstance(directory, ReadOnlyDirectory) else ReadOnlyDirectory(directory),
            hosts if isinstance(hosts, ReadOnlyHosts) else ReadOnlyHosts(hosts))
