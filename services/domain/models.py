"""Pydantic models shared by every layer: what we read, what we find, what we change."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# userAccountControl bits that matter for delegation (MS-ADTS 2.2.16).
UAC_WORKSTATION_TRUST_ACCOUNT = 0x1000
UAC_SERVER_TRUST_ACCOUNT = 0x2000  # domain controller
UAC_TRUSTED_FOR_DELEGATION = 0x80000  # unconstrained
UAC_TRUSTED_TO_AUTH_FOR_DELEGATION = 0x1000000  # protocol transition ("any protocol")
UAC_NOT_DELEGATED = 0x100000  # "Account is sensitive and cannot be delegated"
PROTECTED_USERS_RID = 525  # well-known RID of the Protected Users group (MS-DTYP 2.4.2.4)

# msDS-SupportedEncryptionTypes bits (MS-KILE 2.2.7)
ENCTYPE_RC4 = 0x4
ENCTYPE_AES128 = 0x8
ENCTYPE_AES256 = 0x10
ENCTYPES_AES = ENCTYPE_AES128 | ENCTYPE_AES256

VSMS = "Microsoft Virtual System Migration Service"


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AttributeChange(Model):
    """When an attribute last changed at its origin (replication metadata, not whenChanged)."""

    attribute: str
    changed: datetime


Origin = Literal["directory", "host"]  # where a bad value was read


class BadValue(Model):
    """A value read from the directory or a host that lmdoctor cannot use (not UTF-8, not a host name, a
    malformed blob, missing): left out of the checks and reported on its holder, never an exception."""

    origin: Origin = "directory"
    holder: str  # the object it belongs to (a node's or account's short name), safe to show
    attribute: str
    value: str  # the raw value made safe to show: controls visible, other bytes as \xNN, bounded
    problem: str


class ComputerAccount(Model):
    """An AD computer object as far as live migration cares."""

    name: str  # short name, upper case, without the trailing $
    dn: str
    dns_host_name: str | None = None
    spns: tuple[str, ...] = ()
    uac: int | None = UAC_WORKSTATION_TRUST_ACCOUNT  # None: missing or unreadable (see bad_values)
    allowed_to_delegate_to: tuple[str, ...] = ()
    rbcd_principals: tuple[str, ...] = ()  # SIDs allowed to act on behalf (RBCD allow ACEs)
    rbcd_denied: tuple[str, ...] = ()  # SIDs the RBCD descriptor denies (deny ACEs win)
    sid: str | None = None  # objectSid
    group_sids: tuple[str, ...] = ()  # every group the account belongs to, nested, with its primary group
    when_changed: datetime | None = None  # moves on any write (logon bookkeeping, password change): display only
    attribute_changes: tuple[AttributeChange, ...] = ()  # delegation attributes' originating change times
    bad_values: tuple[BadValue, ...] = ()  # values read but left out of the fields above
    enctypes: int | None = None  # msDS-SupportedEncryptionTypes; None = not set

    def last_change(self, attributes: tuple[str, ...]) -> AttributeChange | None:
        """The latest originating change among `attributes`, if the directory reported one."""
        return max((c for c in self.attribute_changes if c.attribute in attributes), key=lambda c: c.changed,
                   default=None)

    @property
    def unconstrained(self) -> bool:
        return bool((self.uac or 0) & UAC_TRUSTED_FOR_DELEGATION)

    @property
    def protocol_transition(self) -> bool:
        return bool((self.uac or 0) & UAC_TRUSTED_TO_AUTH_FOR_DELEGATION)

    @property
    def uac_text(self) -> str:
        return "not readable" if self.uac is None else f"{self.uac:#x}"


class OperatorAccount(Model):
    """The account that starts moves remotely (the WinRM user, or the Kerberos ticket's user)."""

    name: str  # as the profile or the ticket names it
    how: str  # where the name comes from, e.g. "the profile's WinRM user"
    dn: str | None = None  # None: no such account found
    uac: int = 0
    protected_users: bool | None = None  # member of Protected Users (RID 525), nested too; None = not readable
    enctypes: int | None = None

    @property
    def not_delegated(self) -> bool:
        return bool(self.uac & UAC_NOT_DELEGATED)


class DnsRecord(Model):
    """One A record of a node name in the AD-integrated zone."""

    name: str
    address: str
    timestamp: datetime | None = None  # None = static record
    ttl: int = 0

    @property
    def static(self) -> bool:
        return self.timestamp is None


class AuthType(StrEnum):
    KERBEROS = "Kerberos"
    CREDSSP = "CredSSP"


class PerformanceOption(StrEnum):
    TCPIP = "TCPIP"
    COMPRESSION = "Compression"
    SMB = "SMB"


class VMHostSettings(Model):
    """Get-VMHost's live-migration settings."""

    migration_enabled: bool
    auth_type: AuthType
    performance_option: PerformanceOption = PerformanceOption.COMPRESSION
    max_migrations: int = 2
    use_any_network: bool = True
    migration_networks: tuple[str, ...] = ()


class VirtualMachine(Model):
    name: str
    host: str
    state: str = "Running"
    paths: tuple[str, ...] = ()  # configuration location and virtual disks (Get-VM, Get-VMHardDiskDrive)
    memory_assigned: int = 0  # bytes (Get-VM MemoryAssigned; 0 when off)
    memory_startup: int = 0  # bytes (Get-VM MemoryStartup)
    version: str | None = None  # configuration version (Get-VM Version), e.g. "9.0"
    processor_compatibility: bool = False  # Get-VMProcessor CompatibilityForMigrationEnabled
    clustered: bool = False  # Get-VM IsClustered


class HostEvent(Model):
    """One Windows event from the VMMS-Admin or High-Availability log."""

    time: datetime
    event_id: int
    level: str  # Error / Warning / Information
    log: str
    message: str
    cause: str | None = None  # classification, filled by lmdoctor.services.domain.events


class ClusterNode(Model):
    name: str  # short, upper case
    state: str = "Up"  # Up / Down / Paused / Joining


class HostReport(Model):
    """Everything one host gateway call tells about one Hyper-V host."""

    name: str
    reachable: bool = True
    error: str | None = None
    settings: VMHostSettings | None = None
    vms: tuple[VirtualMachine, ...] = ()
    events: tuple[HostEvent, ...] = ()
    addresses: tuple[str, ...] = ()
    tickets_issued: datetime | None = None  # start time of the SYSTEM session's TGT (klist)
    clock_offset_s: float | None = None  # host clock minus this machine's clock when the host answered
    memory_free: int | None = None  # bytes available for new VMs; None when not reported
    processor: str | None = None  # the host's processor model (compared when a VM lacks compatibility mode)
    supported_versions: tuple[str, ...] = ()  # Get-VMHostSupportedVersion; empty when not reported


class NodeSnapshot(Model):
    name: str
    fqdn: str
    cluster_state: str = "Up"
    account: ComputerAccount | None = None
    host: HostReport | None = None
    dns: tuple[DnsRecord, ...] = ()


class Snapshot(Model):
    """One consistent inventory of a cluster: the only input of diagnosis."""

    domain: str
    cluster: str
    taken_at: datetime
    nodes: tuple[NodeSnapshot, ...]
    spn_owners: dict[str, tuple[str, ...]] = Field(default_factory=dict)  # lower SPN -> owner names
    other_delegators: tuple[ComputerAccount, ...] = ()  # non-node accounts holding node SPNs in delegation
    directory_error: str | None = None
    bad_values: tuple[BadValue, ...] = ()  # unusable values outside the accounts: DNS records, node names
    operator: OperatorAccount | None = None
    dc_clock_offset_s: float | None = None  # the DC's currentTime minus this machine's clock

    def node(self, name: str) -> NodeSnapshot | None:
        key = name.upper()
        return next((n for n in self.nodes if n.name == key), None)

    def vm_hosts(self) -> dict[str, str]:
        """Each VM's name → the node whose host reported it."""
        return {vm.name: node.name for node in self.nodes if node.host for vm in node.host.vms}


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for the worst: findings are listed, and a node's health is taken, by this rank."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {severity: rank for rank, severity in enumerate(Severity)}


ActionKind = Literal[
    "directory.add_values",
    "directory.remove_values",
    "directory.set_uac_bits",
    "directory.clear_uac_bits",
    "directory.grant_rbcd",
    "directory.set_bits",  # OR bits into a single-valued integer attribute (absent counts as 0)
    "host.set_auth_type",
    "host.enable_migration",
    "host.purge_tickets",
]


class FixAction(Model):
    """One atomic, reversible change. `values` are strings; UAC bits are hex strings."""

    kind: ActionKind
    target: str  # DN for directory actions, host short name for host actions
    attribute: str  # LDAP attribute or host setting name
    values: tuple[str, ...] = ()
    description: str
    powershell: str  # what an admin would type to do the same
    aduc: str | None = None  # where to click in ADUC, if it applies


class FixPlan(Model):
    summary: str
    actions: tuple[FixAction, ...]
    purge_hosts: tuple[str, ...] = ()  # klist purge -li 0x3e7 after the change
    cleanup: bool = False  # removes values: applied only when chosen by itself, never by "fix all"


class Finding(Model):
    id: str
    code: str
    severity: Severity
    source: str | None = None
    target: str | None = None
    message: str
    cause: str
    evidence: tuple[str, ...] = ()
    remedy: str | None = None  # manual steps when there is no automatic fix
    fix: FixPlan | None = None


class ChangePreview(Model):
    """An action with the value it would change, read from the live object."""

    action: FixAction
    before: tuple[str, ...]
    after: tuple[str, ...]

    @property
    def no_op(self) -> bool:
        return self.before == self.after


JournalState = Literal["intent", "applied", "failed", "rolled_back", "reconciled", "in_doubt"]


class JournalEntry(Model):
    """One line of the append-only change journal."""

    seq: int
    batch: str  # one fix or rollback run
    change_id: str  # pairs the intent line with its outcome line
    time: datetime
    state: JournalState
    action: FixAction
    reason: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    read_back: tuple[str, ...] | None = None
    error: str | None = None
    rollback_of: str | None = None  # change_id this entry undoes
    expires: datetime | None = None  # a time-boxed change (the CredSSP window) is reverted after this


class MoveProgress(Model):
    percent: int
    activity: str
    status: str


class MoveResult(Model):
    vm: str
    source: str
    destination: str
    what_if: bool
    ok: bool
    error: str | None = None
    cause: str | None = None
    verified: bool = False
    duration_s: float = 0.0
    bytes_transferred: int | None = None  # where the host reports it (the lab does; Windows' Move-VM does not)
    blackout_ms: float | None = None  # the VM's pause at switch-over, where the host reports it (VMMS event 20415)


class Incompatibility(Model):
    """One entry of Compare-VM's VMCompatibilityReport.Incompatibilities (a VMCompatibilityError), as the
    host words it: Message, MessageId and the object it is about (Source, as its text)."""

    message: str
    message_id: int | None = None
    source: str | None = None


class MoveRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    time: datetime
    result: MoveResult
    tour: str | None = None  # the migration tour this move was a hop of
    reason: str | None = None  # the reason the operator gave for the live move or the tour
