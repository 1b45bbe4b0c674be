"""Read deserialized PowerShell objects (pypsrp) into lmdoctor's models.

Remote objects arrive as property bags whose values are plain Python scalars, strings for
DateTime (CLIXML's ISO 8601 text) and enum objects whose ToString is the member name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, TypeVar

from lmdoctor.services.domain import events
from lmdoctor.services.domain.models import (
    AuthType,
    ClusterNode,
    HostEvent,
    Incompatibility,
    PerformanceOption,
    VirtualMachine,
    VMHostSettings,
)

LEVELS = {0: "Information", 1: "Critical", 2: "Error", 3: "Warning", 4: "Information", 5: "Verbose"}
CLUSTER_NODE_STATES = {0: "Up", 1: "Down", 2: "Paused", 3: "Joining", -1: "Unknown"}
VM_STATES = {1: "Other", 2: "Running", 3: "Off", 4: "Stopping", 6: "Saved", 9: "Paused", 10: "Starting",
             11: "Reset", 32773: "Saving", 32776: "Pausing", 32777: "Resuming"}
AUTH_TYPES = {0: AuthType.CREDSSP, 1: AuthType.KERBEROS}
PERFORMANCE_OPTIONS = {0: PerformanceOption.TCPIP, 1: PerformanceOption.COMPRESSION, 2: PerformanceOption.SMB}

E = TypeVar("E", bound=StrEnum)

_DT = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?")  # always fullmatch


def props(obj: Any) -> dict[str, Any]:
    """All properties of a deserialized object (adapted, then note properties); a dict as is."""
    if isinstance(obj, dict):
        return obj
    merged: dict[str, Any] = {}
    merged.update(getattr(obj, "adapted_properties", None) or {})
    merged.update(getattr(obj, "extended_properties", None) or {})
    return merged


def enum_text(value: Any, names: dict[int, Any] | None = None) -> str | None:
    """The member name of an enum value: its ToString, a plain string, or a known number."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(names.get(value, value)) if names else str(value)
    text = getattr(value, "to_string", None)
    if text is not None:
        return str(text)
    return str(value)


def _member(value: Any, enum_type: type[E], numbers: dict[int, E]) -> E:
    text = enum_text(value)
    if isinstance(value, int) and not isinstance(value, bool) and value in numbers:
        return numbers[value]
    for member in enum_type:
        if text is not None and member.value.lower() == text.lower():
            return member
    raise ValueError(f"unexpected {enum_type.__name__} value {text!r}")


def parse_datetime(value: Any) -> datetime | None:
    """A CLIXML DateTime (up to 7 fractional digits, Z / offset / unspecified = UTC) as aware UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    match = _DT.fullmatch(str(value).strip())
    if not match:
        raise ValueError(f"not a DateTime: {str(value)[:60]!r}")
    base, fraction, zone = match.groups()
    try:
        when = datetime.fromisoformat(base)
        if fraction:
            when += timedelta(microseconds=int((fraction + "000000")[:6]))
        tz = timezone.utc if zone in (None, "Z") else datetime.strptime(zone.replace(":", ""), "%z").tzinfo
        return when.replace(tzinfo=tz).astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ValueError(f"DateTime out of range: {str(value)[:60]!r}") from None


def host_datetime(value: Any) -> datetime:
    """A DateTime the host always sends (Get-Date, an event's TimeCreated); ValueError when it is missing."""
    when = parse_datetime(value)
    if when is None:
        raise ValueError("a DateTime is missing")
    return when


def local_offset(value: Any) -> timedelta:
    """The UTC offset a host's Get-Date carries ("...+01:00"); zero when it carries none."""
    match = _DT.fullmatch(str(value).strip()) if value is not None else None
    zone = match.group(3) if match else None
    if zone in (None, "Z"):
        return timedelta(0)
    sign = -1 if zone[0] == "-" else 1
    hours, minutes = zone[1:].split(":")
    return sign * timedelta(hours=int(hours), minutes=int(minutes))


def vmhost_settings(vmhost: Any, networks: Iterable[Any] = ()) -> VMHostSettings:
    """Get-VMHost (+ Get-VMMigrationNetwork) → VMHostSettings."""
    p = props(vmhost)
    subnets = tuple(str(props(n).get("Subnet")) for n in networks if props(n).get("Subnet"))
    return VMHostSettings(
        migration_enabled=bool(p["VirtualMachineMigrationEnabled"]),
        auth_type=_member(p["VirtualMachineMigrationAuthenticationType"], AuthType, AUTH_TYPES),
        performance_option=_member(p.get("VirtualMachineMigrationPerformanceOption", "Compression"),
                                   PerformanceOption, PERFORMANCE_OPTIONS),
        max_migrations=int(p.get("MaximumVirtualMachineMigrations", 2)),
        use_any_network=bool(p.get("UseAnyNetworkForMigration", True)),
        migration_networks=subnets,
    )


def virtual_machine(obj: Any, host: str, disks: Iterable[str] = (),
                    compatible: frozenset[str] = frozenset()) -> VirtualMachine:
    """Get-VM → VirtualMachine; its Path and ConfigurationLocation, then `disks` (Get-VMHardDiskDrive's Path).
    `compatible` names the VMs whose Get-VMProcessor has CompatibilityForMigrationEnabled.
    MemoryAssigned/MemoryStartup are Int64 bytes, Version a string ("9.0"), IsClustered a bool
    (https://learn.microsoft.com/en-us/powershell/module/hyper-v/get-vm)."""
    p = props(obj)
    name = str(p["Name"])
    paths = (str(p[k]) for k in ("ConfigurationLocation", "Path") if p.get(k))
    return VirtualMachine(name=name, host=str(p.get("ComputerName") or host).split(".")[0].upper(),
                          state=enum_text(p.get("State"), VM_STATES) or "Unknown",
                          paths=tuple(dict.fromkeys([*paths, *disks])),
                          memory_assigned=int(p.get("MemoryAssigned") or 0),
                          memory_startup=int(p.get("MemoryStartup") or 0),
                          version=str(p["Version"]) if p.get("Version") is not None else None,
                          processor_compatibility=name.lower() in compatible,
                          clustered=bool(p.get("IsClustered", False)))


def disk_paths(drives: Iterable[Any]) -> dict[str, list[str]]:
    """Get-VM | Get-VMHardDiskDrive → VM name (lower-cased) -> its disks' paths."""
    found: dict[str, list[str]] = {}
    for drive in drives:
        p = props(drive)
        if p.get("VMName") and p.get("Path"):
            found.setdefault(str(p["VMName"]).lower(), []).append(str(p["Path"]))
    return found


def compatible_vms(processors: Iterable[Any]) -> frozenset[str]:
    """The (lower-case) names of the VMs whose Get-VMProcessor has CompatibilityForMigrationEnabled."""
    return frozenset(str(props(o).get("VMName")).lower() for o in processors
                     if props(o).get("CompatibilityForMigrationEnabled") is True)


def supported_versions(objects: Iterable[Any]) -> tuple[str, ...]:
    """Get-VMHostSupportedVersion's VMHostSupportedVersion objects: their Version (System.Version, "9.0")
    (https://learn.microsoft.com/en-us/powershell/module/hyper-v/get-vmhostsupportedversion)."""
    return tuple(str(props(o)["Version"]) for o in objects if props(o).get("Version") is not None)


def free_memory(os_objects: Iterable[Any]) -> int | None:
    """Win32_OperatingSystem.FreePhysicalMemory (KiB) in bytes; None when not reported."""
    values = [props(o).get("FreePhysicalMemory") for o in os_objects]
    return int(values[0]) * 1024 if values and values[0] is not None else None


def processor_name(cpu_objects: Iterable[Any]) -> str | None:
    """The first Win32_Processor's Name (every socket of a Hyper-V host carries the same model)."""
    names = [props(o).get("Name") for o in cpu_objects]
    return str(names[0]).strip() if names and names[0] is not None else None


def incompatibilities(objects: Iterable[Any]) -> tuple[Incompatibility, ...]:
    """Compare-VM's answer: VMCompatibilityError objects (Message, MessageId, Source), as
    `Select-Object -ExpandProperty Incompatibilities` passes them on, or whole VMCompatibilityReport objects
    whose Incompatibilities is a list of them, empty or null when the VM is compatible. Source is an object
    (a VMNetworkAdapter, VMProcessor, ...) that arrives as its text. Microsoft's Import-VM example shows one:
    "Could not find Ethernet switch 'Production'." with MessageId 33012 and Source
    Microsoft.HyperV.PowerShell.VMNetworkAdapter (https://learn.microsoft.com/powershell/module/hyper-v/import-vm)."""
    found: list[Incompatibility] = []
    for obj in objects:
        if obj is None:
            continue
        p = props(obj)
        if "Incompatibilities" in p:  # the report itself
            found += incompatibilities(p["Incompatibilities"] or ())
            continue
        message = p.get("Message") if p else obj
        if message is None:
            raise ValueError("an incompatibility without a Message")
        message_id, source = p.get("MessageId"), p.get("Source")
        found.append(Incompatibility(message=str(message), message_id=int(message_id) if message_id is not None
                                     else None, source=enum_text(source)))
    return tuple(found)


def cluster_node(obj: Any) -> ClusterNode:
    p = props(obj)
    if p.get("Name") is None:
        raise ValueError("a cluster node without a Name")
    return ClusterNode(name=str(p["Name"]).split(".")[0].upper(),
                       state=enum_text(p.get("State"), CLUSTER_NODE_STATES) or "Unknown")


def host_event(obj: Any) -> HostEvent:
    """An EventLogRecord from Get-WinEvent, classified on its message text and id."""
    p = props(obj)
    level = p.get("Level")
    level_name = (LEVELS.get(int(level)) if isinstance(level, int) else None) or str(p.get("LevelDisplayName")
                                                                                   or "Unknown")
    message = str(p.get("Message") or "")
    event_id = int(p["Id"])
    return HostEvent(time=host_datetime(p["TimeCreated"]), event_id=event_id, level=level_name,
                     log=str(p.get("LogName") or ""), message=message,
                     cause=events.classify(message, event_id, level_name))


def error_text(record: Any) -> str:
    """The verbatim message of an ErrorRecord (its exception's Message), else its string form."""
    exception = getattr(record, "exception", None)
    message = props(exception).get("Message") if exception is not None else None
    if message:
        return str(message)
    return str(getattr(record, "message", None) or record)


def error_id(record: Any) -> str:
    return str(getattr(record, "fq_error", None) or "")


def error_category(record: Any) -> str:
    return str(getattr(record, "category", None) or "")


# klist's output is localised ("Start Time:", "Startzeit:", "Heure de démarrage :"), its layout is not:
# each ticket opens with "#<n>>", the server principal follows a colon, and the fields keep their order
# (Client, Server, encryption type, flags, Start Time, End Time, Renew Time, …), so a ticket's first
# date is its start time. klist prints dates as M/D/YYYY in every language seen (the en-US and fr-FR
# samples in tests/test_klist.py); a day above 12, a dotted D.M.YYYY or a year-first date is read as such.
# A count of zero ("Cached Tickets: (0)", "Tickets mis en cache : (0)") means an empty cache.
_TICKET = re.compile(r"^\s*#\d+>")
_KRBTGT = re.compile(r":\s*krbtgt/", re.I)
_DATE = re.compile(r"(\d{1,4})([/.\-])(\d{1,2})\2(\d{1,4})\s+(\d{1,2}):(\d{2}):(\d{2})")
_EMPTY = re.compile(r":\s*\(0\)\s*$")


def _tickets(lines: Iterable[Any]) -> list[list[str]]:
    """klist's ticket entries, each as its lines (the "#<n>>" line first)."""
    entries: list[list[str]] = []
    for raw in lines:
        line = str(raw)
        if _TICKET.match(line):
            entries.append([line])
        elif entries:
            entries[-1].append(line)
    return entries


def _ticket_fields(lines: list[str]) -> list[list[str]]:
    """The ticket entries; output that carries fields but no "#<n>>" marker (a trimmed copy) is one entry."""
    return _tickets(lines) or ([lines] if lines else [])


def _local_time(match: re.Match, offset: timedelta) -> datetime | None:
    first, separator, second, third, hour, minute, sec = match.groups()
    if len(first) == 4:
        year, month, day = first, second, third
    elif separator == "." or int(first) > 12:
        year, month, day = third, second, first
    else:
        year, month, day = third, first, second
    try:
        local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(sec), tzinfo=timezone(offset))
    except ValueError:
        return None
    return local.astimezone(timezone.utc)


def _start(entry: list[str], offset: timedelta) -> datetime | None:
    """A ticket's start time (UTC): its first date."""
    return next((_local_time(m, offset) for line in entry if (m := _DATE.search(line))), None)


def klist_tgt_start(lines: Iterable[Any], offset: timedelta) -> datetime | None:
    """Start time (UTC) of the krbtgt ticket in `klist -li 0x3e7` output, in any display language; None
    when there is none. `offset` is the host's UTC offset (from its Get-Date): klist prints local times."""
    starts = [_start(e, offset) for e in _ticket_fields([str(line) for line in lines])
              if any(_KRBTGT.search(line) for line in e)]
    return min((s for s in starts if s is not None), default=None)


def klist_purged(lines: Iterable[Any], offset: timedelta, since: datetime) -> bool:
    """True when a `klist -li 0x3e7` listing taken after a purge shows it worked: an empty cache, or only
    tickets issued since the purge began (VMMS may fetch new ones at once). Language-neutral."""
    lines = [str(line) for line in lines]
    entries = _tickets(lines)
    if not entries:
        return any(_EMPTY.search(line) for line in lines)
    starts = [_start(e, offset) for e in entries]
    floor = since.replace(microsecond=0)  # klist prints whole seconds
    return all(s is not None and s >= floor for s in starts)
