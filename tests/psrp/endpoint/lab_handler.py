"""A PSRP command handler that serves one lab Hyper-V host over the wire.

Each pipeline the endpoint receives is dispatched, by cmdlet name and parameters, to the same
host model the embedded lab uses (``lmdoctor.services.backends.lab.hosts.LabHostGateway`` over a lab directory),
and answered with objects shaped like the real cmdlets' output: typed VMHost / VM /
VMMigrationNetwork / ClusterNode objects with Hyper-V enums, EventLogRecords, klist text,
ErrorRecords for failures, progress records while Move-VM runs, and Compare-VM's VMCompatibilityReport.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

from psrpcore.types import PSEnumBase, PSInt64, PSType, PSUInt64, PSVersion

from lmdoctor.services.backends.hosts.base import HostError
from lmdoctor.services.backends.lab.directory import LabDirectory
from lmdoctor.services.backends.lab.hosts import LabHostGateway
from lmdoctor.services.backends.lab.state import LabStore
from lmdoctor.services.domain.models import MoveProgress

from .events import Error, Event, Invocation, Output, Progress, PSObj

LEVEL_NUMBERS = {"Critical": 1, "Error": 2, "Warning": 3, "Information": 4, "Verbose": 5}
HOST_TZ = timezone(timedelta(hours=1))  # the lab hosts' local time zone (klist prints local times)

# klist's words in the host's display language (its layout and M/D/YYYY dates are the same in all).
# en: verbatim klist output (tests/test_klist.py cites the samples). de: the purge lines are verbatim from a
# public German sample; the ticket-list labels follow a German klist simulator (no verbatim list was found).
KLIST_WORDS = {
    "en": {"logon": "Current LogonId is 0:0x5b1c3", "target": "Targeted LogonId is 0:0x3e7",
           "purge": ("\tDeleting all tickets:", "\tTicket(s) purged!"), "cached": "Cached Tickets: ({n})",
           "labels": ("Client: ", "Server: ", "KerbTicket Encryption Type: ", "Ticket Flags ", "Start Time: ",
                      "End Time:   ", "Renew Time: ", "Session Key Type: ", "Cache Flags: ", "Kdc Called: "),
           "local": "(local)"},
    "de": {"logon": "Aktuelle Anmelde-ID ist 0:0x5b1c3", "target": None,
           "purge": ("\tAlle Tickets werden gelöscht:", "\tTicket(s) gelöscht."),
           "cached": "Zwischengespeicherte Tickets: ({n})",
           "labels": ("Client: ", "Server: ", "KerbTicket (Verschlüsselungstyp): ", "Ticketkennzeichen ",
                      "Startzeit: ", "Endzeit:   ", "Erneuerungszeit: ", "Sitzungsschlüsseltyp: ",
                      "Cachekennzeichen: ", "Kdc aufgerufen: "),
           "local": "(lokal)"},
}


@PSType(["Microsoft.HyperV.PowerShell.MigrationAuthenticationType"])
class MigrationAuthenticationType(PSEnumBase):
    CredSSP = 0
    Kerberos = 1


@PSType(["Microsoft.HyperV.PowerShell.VMMigrationPerformance"])
class VMMigrationPerformance(PSEnumBase):
    TCPIP = 0
    Compression = 1
    SMB = 2


@PSType(["Microsoft.HyperV.PowerShell.VMState"])
class VMState(PSEnumBase):
    Other = 1
    Running = 2
    Off = 3
    Stopping = 4
    Saved = 6
    Paused = 9


@PSType(["Microsoft.FailoverClusters.PowerShell.ClusterNodeState"])
class ClusterNodeState(PSEnumBase):
    Up = 0
    Down = 1
    Paused = 2
    Joining = 3
    Unknown = -1


def _hyperv_error(message: str, cmdlet: str, terminating: bool, *, category: str = "NotSpecified",
                  reason: str = "OperationFailed", hresult: int | None = None) -> Error:
    return Error(message, f"{reason},Microsoft.HyperV.PowerShell.Commands.{cmdlet.replace('-', '')}Command",
                 category=category, hresult=hresult, terminating=terminating,
                 exception_type="Microsoft.HyperV.PowerShell.VirtualizationException")


class LabHostHandler:
    """The endpoint handler of one lab host; ``received`` logs every command as it arrived."""

    def __init__(self, lab_dir: Path, host: str) -> None:
        self.store = LabStore(lab_dir)
        self.host = host.upper()
        self.received: list[Invocation] = []
        self.failures: dict[str, Error] = {}  # cmdlet -> the ErrorRecord to answer instead (fault injection)
        self.language = "en"  # the host's display language for klist (a key of KLIST_WORDS)
        self._lock = threading.Lock()

    def _gateway(self) -> LabHostGateway:
        # A fresh directory view per call: fixes written to the lab directory are seen at once.
        return LabHostGateway(self.store, LabDirectory(self.store), step_delay=0.02)

    def __call__(self, commands: list[Invocation]) -> Iterator[Event]:
        with self._lock:
            self.received.extend(commands)
        command = commands[0]
        if command.name in self.failures:
            yield self.failures[command.name]
            return
        name = "__".join(c.name.replace("-", "_").replace(".", "_").lower() for c in commands)  # a pipeline: a__b
        method = getattr(self, "_" + name, None)
        if method is None:
            yield Error(f"The term '{command.name}' is not recognized as the name of a cmdlet, function, script "
                        "file, or operable program.", "CommandNotFoundException", category="ObjectNotFound",
                        exception_type="System.Management.Automation.CommandNotFoundException", terminating=True)
            return
        yield from method(command)

    @staticmethod
    def _stop(command: Invocation) -> bool:
        return str(command.parameters.get("ErrorAction", "")).lower() == "stop"

    # --- reading -----------------------------------------------------------------------
    def _lab_host(self):
        return self.store.load_hosts().hosts[self.host]

    def _get_clusternode(self, command: Invocation) -> Iterator[Event]:
        state = self.store.load_hosts()
        for node in self._gateway().cluster_nodes():
            yield Output(PSObj(["Microsoft.FailoverClusters.PowerShell.ClusterNode"],
                               {"Name": node.name, "State": ClusterNodeState[node.state], "Cluster": state.cluster},
                               to_string=node.name))

    def _get_vmhost(self, command: Invocation) -> Iterator[Event]:
        s = self._lab_host().settings
        yield Output(PSObj(["Microsoft.HyperV.PowerShell.VMHost"], {
            "ComputerName": self.host,
            "VirtualMachineMigrationEnabled": s.migration_enabled,
            "VirtualMachineMigrationAuthenticationType": MigrationAuthenticationType[s.auth_type.value],
            "VirtualMachineMigrationPerformanceOption": VMMigrationPerformance[s.performance_option.value],
            "MaximumVirtualMachineMigrations": s.max_migrations,
            "UseAnyNetworkForMigration": s.use_any_network,
        }, to_string=self.host))

    def _get_vmmigrationnetwork(self, command: Invocation) -> Iterator[Event]:
        for priority, subnet in enumerate(self._lab_host().settings.migration_networks):
            yield Output(PSObj(["Microsoft.HyperV.PowerShell.VMMigrationNetwork"],
                               {"Subnet": subnet, "Priority": priority, "ComputerName": self.host}))

    def _get_vm(self, command: Invocation) -> Iterator[Event]:
        computer = str(command.parameters.get("ComputerName", self.host)).upper()
        name = command.parameters.get("Name")
        if name is not None:
            try:
                vm = self._gateway().get_vm(computer, str(name))
            except HostError as exc:
                yield _hyperv_error(str(exc), "Get-VM", self._stop(command))
                return
            if vm is None:
                yield _hyperv_error(f"Hyper-V was unable to find a virtual machine with name \"{name}\".", "Get-VM",
                                    self._stop(command), category="InvalidArgument", reason="InvalidParameter")
                return
            vms = [vm]
        else:
            vms = list(self.store.load_hosts().hosts[computer].vms)
        for vm in vms:
            home = vm.paths[0] if vm.paths else f"C:\\ClusterStorage\\Volume1\\{vm.name}"
            # MemoryAssigned/MemoryStartup: Int64 bytes; Version: String ("9.0"); IsClustered: Boolean
            # (https://learn.microsoft.com/en-us/powershell/module/hyper-v/get-vm).
            yield Output(PSObj(["Microsoft.HyperV.PowerShell.VirtualMachine"],
                               {"Name": vm.name, "State": VMState[vm.state], "ComputerName": vm.host,
                                "Path": home, "ConfigurationLocation": home,
                                "MemoryAssigned": PSInt64(vm.memory_assigned),
                                "MemoryStartup": PSInt64(vm.memory_startup),
                                "Version": vm.version, "IsClustered": vm.clustered},
                               to_string=vm.name))

    def _get_vm__get_vmharddiskdrive(self, command: Invocation) -> Iterator[Event]:
        """Get-VM | Get-VMHardDiskDrive: one drive object per virtual disk of every VM on the host."""
        for vm in self._lab_host().vms:
            for number, path in enumerate(vm.paths[1:]):
                yield Output(PSObj(["Microsoft.HyperV.PowerShell.HardDiskDrive"], {
                    "VMName": vm.name, "Path": path, "ControllerType": "SCSI", "ControllerNumber": 0,
                    "ControllerLocation": number, "ComputerName": self.host}, to_string="Hard Drive"))

    def _get_vmprocessor(self, command: Invocation) -> Iterator[Event]:
        """Get-VMProcessor -VMName *: one VMProcessor per VM with CompatibilityForMigrationEnabled."""
        for vm in self._lab_host().vms:
            yield Output(PSObj(["Microsoft.HyperV.PowerShell.VMProcessor"],
                               {"VMName": vm.name, "Count": 2, "ComputerName": self.host,
                                "CompatibilityForMigrationEnabled": vm.processor_compatibility}))

    def _get_vmhostsupportedversion(self, command: Invocation) -> Iterator[Event]:
        """VMHostSupportedVersion objects: Name, Version (System.Version), IsDefault
        (https://learn.microsoft.com/en-us/powershell/module/hyper-v/get-vmhostsupportedversion)."""
        versions = self._lab_host().supported_versions
        for version in versions:
            yield Output(PSObj(["Microsoft.HyperV.PowerShell.VMHostSupportedVersion"],
                               {"Name": f"Configuration version {version}", "Version": PSVersion(version),
                                "IsDefault": version == versions[-1]}))

    def _get_ciminstance(self, command: Invocation) -> Iterator[Event]:
        """Win32_OperatingSystem (FreePhysicalMemory: UInt64 KiB) and Win32_Processor (Name) as CimInstances."""
        name = str(command.parameters.get("ClassName", ""))
        host = self._lab_host()
        cim = f"Microsoft.Management.Infrastructure.CimInstance#root/cimv2/{name}"
        if name == "Win32_OperatingSystem" and host.memory_free is not None:
            yield Output(PSObj([cim, "Microsoft.Management.Infrastructure.CimInstance"],
                               {"CSName": self.host, "FreePhysicalMemory": PSUInt64(host.memory_free // 1024)}))
        elif name == "Win32_Processor" and host.processor is not None:
            for socket in ("CPU0", "CPU1"):
                yield Output(PSObj([cim, "Microsoft.Management.Infrastructure.CimInstance"],
                                   {"DeviceID": socket, "Name": host.processor}))
        elif name not in ("Win32_OperatingSystem", "Win32_Processor"):
            yield Error(f"Invalid class {name!r}", "HRESULT 0x80041010,Microsoft.Management.Infrastructure."
                        "CimCmdlets.GetCimInstanceCommand", category="MetadataError", terminating=True)

    def _get_winevent(self, command: Invocation) -> Iterator[Event]:
        query = command.parameters.get("FilterHashtable") or {}
        logs = query.get("LogName", [])
        logs = {str(x).lower() for x in (logs if isinstance(logs, list) else [logs])}
        levels = query.get("Level", [])
        levels = set(levels if isinstance(levels, list) else [levels])
        ids = query.get("Id", [])
        ids = {int(x) for x in (ids if isinstance(ids, list) else [ids])}
        limit = int(command.parameters.get("MaxEvents", 2**31 - 1))
        chosen = sorted((e for e in self._lab_host().events
                         if e.log.lower() in logs and (not levels or LEVEL_NUMBERS.get(e.level) in levels)
                         and (not ids or e.event_id in ids)),
                        key=lambda e: e.time, reverse=True)[:limit]
        if not chosen:
            yield Error("No events were found that match the specified selection criteria.",
                        "NoMatchingEventsFound,Microsoft.PowerShell.Commands.GetWinEventCommand",
                        category="ObjectNotFound")
        for e in chosen:
            yield Output(PSObj(["System.Diagnostics.Eventing.Reader.EventLogRecord",
                                "System.Diagnostics.Eventing.Reader.EventRecord"],
                               {"Id": e.event_id, "Level": LEVEL_NUMBERS.get(e.level, 4), "LevelDisplayName": e.level,
                                "LogName": e.log, "TimeCreated": e.time.astimezone(HOST_TZ), "Message": e.message,
                                "ProviderName": "Microsoft-Windows-Hyper-V-VMMS", "MachineName": self.host}))

    def _get_netipaddress(self, command: Invocation) -> Iterator[Event]:
        for address in ["127.0.0.1", *self._lab_host().addresses]:
            yield Output(PSObj(["Microsoft.Management.Infrastructure.CimInstance#ROOT/StandardCimv2/MSFT_NetIPAddress"],
                               {"IPAddress": address, "AddressFamily": 2, "PrefixLength": 8 if address.startswith("127.") else 24}))

    def _get_date(self, command: Invocation) -> Iterator[Event]:
        yield Output(datetime.now(HOST_TZ) + timedelta(seconds=self._lab_host().clock_offset_s))

    def _klist_exe(self, command: Invocation) -> Iterator[Event]:
        args = [str(a) for a in command.arguments]
        words = KLIST_WORDS[self.language]
        head = ["", words["logon"]] + ([words["target"]] if words["target"] else [])
        if args == ["-li", "0x3e7"]:
            yield from (Output(line) for line in head + self._klist_tickets(words))
        elif args == ["purge", "-li", "0x3e7"]:
            self._gateway().purge_tickets(self.host)
            yield from (Output(line) for line in head + list(words["purge"]))
        else:
            yield Error(f"klist: unexpected arguments {args!r}", "NativeCommandError")

    def _klist_tickets(self, words: dict) -> list[str]:
        h = self._lab_host()
        domain = self.store.load_hosts().domain.upper()
        start = h.tickets.issued.astimezone(HOST_TZ)
        end = start + timedelta(hours=10)
        local = words["local"]
        stamp = lambda t: f"{t.month}/{t.day}/{t.year} {t.hour}:{t.minute:02d}:{t.second:02d} {local}"  # noqa: E731
        client, server, etype, flags, st, et, rt, skey, cache, kdc = words["labels"]
        return ["", words["cached"].format(n=1), "",
                f"#0>\t{client}{self.host}$ @ {domain}", f"\t{server}krbtgt/{domain} @ {domain}",
                f"\t{etype}AES-256-CTS-HMAC-SHA1-96",
                f"\t{flags}0x40e10000 -> forwardable renewable initial pre_authent name_canonicalize",
                f"\t{st}{stamp(start)}", f"\t{et}{stamp(end)}", f"\t{rt}{stamp(start + timedelta(days=7))}",
                f"\t{skey}AES-256-CTS-HMAC-SHA1-96", f"\t{cache}0x1 -> PRIMARY", f"\t{kdc}DC01.{domain.lower()}"]

    # --- writing -----------------------------------------------------------------------
    def _set_vmhost(self, command: Invocation) -> Iterator[Event]:
        value = command.parameters.get("VirtualMachineMigrationAuthenticationType")
        if value not in MigrationAuthenticationType.__members__:
            yield Error(f"Cannot bind parameter 'VirtualMachineMigrationAuthenticationType'. Cannot convert value "
                        f"\"{value}\" to type \"Microsoft.HyperV.PowerShell.MigrationAuthenticationType\".",
                        "CannotConvertArgumentNoMessage,Microsoft.HyperV.PowerShell.Commands.SetVMHost",
                        category="InvalidArgument", terminating=True)
            return
        self._gateway().set_auth_type(self.host, value)
        yield from ()

    def _enable_vmmigration(self, command: Invocation) -> Iterator[Event]:
        self._gateway().set_migration_enabled(self.host, True)
        yield from ()

    def _disable_vmmigration(self, command: Invocation) -> Iterator[Event]:
        self._gateway().set_migration_enabled(self.host, False)
        yield from ()

    # --- Compare-VM ----------------------------------------------------------------------
    def _compared(self, command: Invocation) -> tuple[list[PSObj] | None, Error | None]:
        """The lab's Compare-VM as VMCompatibilityError objects (Message: String, MessageId: Int32, Source: the
        object it is about, here its text), or the ErrorRecord Compare-VM writes when it cannot compare."""
        p = command.parameters
        try:
            found = self._gateway().compare_vm(str(p.get("Name")), self.host, str(p.get("DestinationHost")))
        except HostError as exc:
            not_found = "unable to find a virtual machine" in str(exc).lower()
            return None, _hyperv_error(str(exc), "Compare-VM", self._stop(command),
                                       category="InvalidArgument" if not_found else "NotSpecified",
                                       reason="InvalidParameter" if not_found else "OperationFailed",
                                       hresult=_hresult(str(exc)))
        return [PSObj(["Microsoft.HyperV.PowerShell.VMCompatibilityError"],
                      {"Message": i.message, "MessageId": i.message_id, "Source": i.source}, to_string=i.message)
                for i in found], None

    def _compare_vm(self, command: Invocation) -> Iterator[Event]:
        """Compare-VM -Name -DestinationHost: one VMCompatibilityReport; Incompatibilities is null when there is
        none (as the report of Microsoft's Import-VM example shows it once resolved)."""
        errors, failure = self._compared(command)
        if failure is not None:
            yield failure
            return
        p = command.parameters
        vm = str(p.get("Name"))
        yield Output(PSObj(["Microsoft.HyperV.PowerShell.VMCompatibilityReport"], {
            "VM": vm, "OperationType": "MoveVirtualMachine", "Destination": str(p.get("DestinationHost")),
            "Path": None, "SnapshotPath": None, "VhdDestinationPath": None, "VhdSourcePath": None,
            "Incompatibilities": errors or None}, to_string="Microsoft.HyperV.PowerShell.VMCompatibilityReport"))

    def _compare_vm__select_object(self, command: Invocation) -> Iterator[Event]:
        """Compare-VM … | Select-Object -ExpandProperty Incompatibilities: each VMCompatibilityError on its own;
        a null list expands to nothing."""
        errors, failure = self._compared(command)
        if failure is not None:
            yield failure
            return
        for error in errors or ():
            yield Output(error)

    def _move_vm(self, command: Invocation) -> Iterator[Event]:
        """Move-VM runs the lab's move on a worker; its progress is streamed as it happens."""
        p = command.parameters
        vm, destination, what_if = str(p.get("Name")), str(p.get("DestinationHost")), bool(p.get("WhatIf"))
        updates: queue.Queue = queue.Queue()

        def work() -> None:
            try:
                updates.put(("done", self._gateway().move_vm(vm, self.host, destination, what_if=what_if,
                                                              progress=lambda m: updates.put(("progress", m)))))
            except HostError as exc:
                updates.put(("error", exc))

        threading.Thread(target=work, name=f"lab-move-{vm[:20]}", daemon=True).start()
        activity_done = False
        while True:
            kind, value = updates.get(timeout=60)
            if kind == "progress":
                m: MoveProgress = value
                activity_done = m.percent >= 100
                yield Progress(m.percent, m.activity, m.status, completed=activity_done)
            elif kind == "error":
                text = str(value)
                not_found = "unable to find a virtual machine" in text.lower()
                yield _hyperv_error(text, "Move-VM", self._stop(command),
                                    category="InvalidArgument" if not_found else "NotSpecified",
                                    reason="InvalidParameter" if not_found else "OperationFailed")
                return
            else:
                if not value.ok:
                    yield _hyperv_error(value.error, "Move-VM", self._stop(command), hresult=_hresult(value.error))
                return


def _hresult(text: str) -> int | None:
    """The HRESULT in an error text as the signed Int32 .NET reports."""
    match = re.search(r"0x([0-9a-fA-F]{8})", text or "")
    return int(match.group(1), 16) - 2**32 if match and int(match.group(1), 16) >= 2**31 else None
