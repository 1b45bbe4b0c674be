"""The directory protocol: what lmdoctor needs from Active Directory."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from lmdoctor.services.domain.errors import LmdoctorError
from lmdoctor.services.domain.models import BadValue, ComputerAccount, DnsRecord, OperatorAccount


class DirectoryError(LmdoctorError):
    """A directory operation failed; the message is safe to show (no secrets)."""


class DirectoryConflict(DirectoryError):
    """The object changed since we read it (rollback refuses to overwrite)."""


@dataclass(frozen=True)
class ClusterView:
    """Everything the inventory reads from the directory about one cluster."""

    accounts: list[ComputerAccount]  # the nodes' own computer accounts
    spn_owners: dict[str, tuple[str, ...]]  # lower-cased SPN -> short names of its holders
    delegators: list[ComputerAccount]  # accounts read that may delegate to any of the targets
    dns: dict[str, tuple[DnsRecord, ...]]  # node -> its A records
    bad_values: list[BadValue] = field(default_factory=list)  # unusable values outside the accounts (dnsRecord)
    dc_clock_offset_s: float | None = None  # the DC's currentTime (RootDSE) minus ours


class Directory(Protocol):
    domain: str  # DNS name, e.g. contoso.local

    def read_computers(self, names: Iterable[str]) -> list[ComputerAccount]:
        """Computer accounts by short name, in a constant number of searches."""

    def find_spn_owners(self, spns: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """Lower-cased SPN -> short names of every account holding it (cifs/ maps to HOST/)."""

    def read_dns_records(self, names: Iterable[str]) -> dict[str, tuple[DnsRecord, ...]]:
        """A records of these short names in the domain's AD-integrated zone."""

    def read_cluster(self, names: Iterable[str], spns: Iterable[str], targets: Iterable[str],
                     cluster: str | None = None) -> ClusterView:
        """The nodes' accounts, the SPNs' owners, the DNS records, and the delegators to `targets` among
        the accounts read (nodes, the cluster name object, SPN holders), in as few round trips as possible."""

    def read_operator(self, name: str, how: str) -> OperatorAccount:
        """The user account that starts moves (by UPN or sAMAccountName), with Protected Users membership."""

    def read_values(self, dn: str, attribute: str) -> tuple[str, ...]:
        """Current values of one attribute (userAccountControl as a decimal string, an RBCD descriptor in
        base64)."""

    def add_values(self, dn: str, attribute: str, values: Iterable[str]) -> None:
        """Add values (MODIFY_ADD); never replaces the list."""

    def remove_values(self, dn: str, attribute: str, values: Iterable[str]) -> None:
        """Remove exactly these values (MODIFY_DELETE)."""

    def replace_binary(self, dn: str, attribute: str, before: bytes | None, after: bytes | None) -> None:
        """Swap a single-valued binary attribute from `before` to `after` in one modify (delete-old +
        add-new: fails instead of overwriting when the value changed meanwhile)."""

    def change_uac(self, dn: str, set_bits: int, clear_bits: int) -> int:
        """Read-modify-write userAccountControl; returns the new value."""

    def close(self) -> None: ...
