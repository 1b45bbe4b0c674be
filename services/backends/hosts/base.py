"""The host gateway protocol: what lmdoctor needs from Hyper-V hosts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from lmdoctor.services.domain.errors import LmdoctorError
from lmdoctor.services.domain.models import (
    AuthType,
    ClusterNode,
    HostReport,
    Incompatibility,
    MoveProgress,
    MoveResult,
    VirtualMachine,
)

ProgressCallback = Callable[[MoveProgress], None]


class HostError(LmdoctorError):
    """A host operation failed; the message is the host's own text where there is one."""


class HostUnreachable(HostError):
    """The host did not answer (timeout, refused, TLS or auth failure)."""


class CommandMissing(HostError):
    """The host has no such command (an older Hyper-V module): the caller may fall back to another one."""


class Unconfirmed(LmdoctorError):
    """A step was sent and raised no error, but its effect could not be confirmed. Not a failure:
    `host_text` is what the host said, to be shown (safely) to the operator."""

    def __init__(self, message: str, host_text: str = "") -> None:
        super().__init__(message)
        self.host_text = host_text


class HostGateway(Protocol):
    def cluster_nodes(self) -> list[ClusterNode]:
        """Get-ClusterNode, asked of the first host that answers."""

    def host_report(self, host: str) -> HostReport:
        """Get-VMHost, Get-VMMigrationNetwork, Get-VM, Get-WinEvent, klist of one host.

        Never raises for an unreachable host: returns reachable=False with the error."""

    def set_auth_type(self, host: str, auth_type: AuthType) -> None: ...

    def set_migration_enabled(self, host: str, enabled: bool) -> None: ...

    def purge_tickets(self, host: str) -> None:
        """klist.exe purge -li 0x3e7 (the SYSTEM logon session VMMS runs in), confirmed in a way that does
        not depend on the host's display language. Raises HostError when it failed, Unconfirmed when it
        was sent but cannot be confirmed."""

    def move_vm(
        self,
        vm: str,
        source: str,
        destination: str,
        what_if: bool = False,
        progress: ProgressCallback | None = None,
    ) -> MoveResult:
        """Move-VM started remotely on the source (as a jump host does)."""

    def compare_vm(self, vm: str, source: str, destination: str) -> tuple[Incompatibility, ...]:
        """Compare-VM -Name vm -DestinationHost destination, run on the source: the report's Incompatibilities
        (empty when the VM is compatible). Raises CommandMissing when the host has no Compare-VM, HostError
        with the host's text when the comparison itself failed (the destination refused, no such VM)."""

    def get_vm(self, host: str, vm: str) -> VirtualMachine | None:
        """Get-VM -ComputerName host -Name vm; None when absent."""

    def close(self) -> None: ...
