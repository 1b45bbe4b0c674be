"""The lab host gateway: simulated Hyper-V hosts that decide Move-VM as Windows would."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from typing import Protocol

from lmdoctor.services.backends.directory.ldap import LdapDirectory
from lmdoctor.services.backends.hosts.base import HostError, HostUnreachable, ProgressCallback
from lmdoctor.services.backends.lab.scenarios import ADMIN_USER
from lmdoctor.services.backends.lab.state import LabHost, LabStore, TicketView
from lmdoctor.services.domain import events
from lmdoctor.services.domain import vm_storage as storage
from lmdoctor.services.domain.coverage import rbcd_grant
from lmdoctor.services.domain.models import (
    UAC_TRUSTED_FOR_DELEGATION,
    UAC_TRUSTED_TO_AUTH_FOR_DELEGATION,
    VSMS,
    AuthType,
    ClusterNode,
    HostEvent,
    HostReport,
    Incompatibility,
    MoveProgress,
    MoveResult,
    PerformanceOption,
    VirtualMachine,
)
from lmdoctor.services.domain.spn import spn_key

MAX_EVENTS = 60
VMMS_LOG = "Microsoft-Windows-Hyper-V-VMMS-Admin"


class DelegationAuthority(Protocol):
    """Decides whether the KDC would grant the source's S4U2Proxy request for a target SPN."""

    def allows(self, source: str, tickets: TicketView, target_spn: str) -> tuple[bool, str]: ...


class TicketViewAuthority:
    """Decides from the account state the source's cached tickets reflect (stale until purged)."""

    def allows(self, source: str, tickets: TicketView, target_spn: str) -> tuple[bool, str]:
        if tickets.uac & UAC_TRUSTED_FOR_DELEGATION:
            return True, "unconstrained delegation"
        if spn_key(target_spn) not in {spn_key(v) for v in tickets.allowed_to_delegate_to}:
            return False, f"{source} is not allowed to delegate to {target_spn}"
        if not tickets.uac & UAC_TRUSTED_TO_AUTH_FOR_DELEGATION:
            return False, f"{source} may delegate to {target_spn} with Kerberos only (no protocol transition)"
        return True, "constrained delegation with protocol transition"


def _error_text(vm: str, source: str, destination: str, detail: str) -> str:
    return (f"Virtual machine migration operation for '{vm}' failed at migration source '{source}'.\n"
            f"Failed to establish a connection with host '{destination}': {detail}")


NO_CREDENTIALS = "No credentials are available in the security package (0x8009030E)."
NOT_RECOGNIZED = "The credentials supplied to the package were not recognized (0x8009030D)."
TIME_SKEW = "The clocks on the client and server machines are skewed. (0x80090324)."
MAX_CLOCK_SKEW_S = 300  # Kerberos' default tolerance (the domain's "Maximum tolerance for computer clock synchronization")
WRONG_PRINCIPAL = "The target principal name is incorrect. (0x80090322)."

# Compare-VM's MessageIds. 33012 and its words are Windows' own (Microsoft's Import-VM example: "Could not find
# Ethernet switch 'Production'.", https://learn.microsoft.com/powershell/module/hyper-v/import-vm). The processor
# and memory words are Windows' texts from "Troubleshoot live migration issues"
# (https://learn.microsoft.com/troubleshoot/windows-server/virtualization/troubleshoot-live-migration-issues);
# their ids and the configuration-version wording are the lab's own (no Windows sample of them was found).
# lmdoctor shows ids and words as the host gives them and never decides on an id.
SWITCH_MISSING, PROCESSOR_FEATURES, MEMORY, CONFIGURATION_VERSION = 33012, 21014, 40010, 14420


def blackout_for(memory: int) -> float:
    """The lab's switch-over pause in ms: a fixed part and a little per GiB of memory (the final dirty pages)."""
    return round(20 + 6 * memory / (1 << 30), 1)


def blackout_message(vm: str, blackout_ms: float) -> str:
    """The VMMS-Admin 20415 text, in the shape admins parse it ("'VM' ... blackout time of N seconds (VMID ID).")."""
    vmid = str(uuid.uuid5(uuid.NAMESPACE_DNS, vm.lower())).upper()
    return (f"The virtual machine '{vm}' was live migrated with a blackout time of {blackout_ms / 1000:.3f} seconds "
            f"(VMID {vmid}).")


class LabHostGateway:
    """HostGateway over the lab's hosts.json; every call re-reads it so CLI runs see each other."""

    def __init__(self, store: LabStore, directory: LdapDirectory, authority: DelegationAuthority | None = None,
                 step_delay: float = 0.15, clock: Callable[[], datetime] | None = None,
                 operator: str | None = None) -> None:
        """`operator`: the account the moves are started as (its delegability decides them too); by default
        the lab's own WinRM user."""
        self.store = store
        self.operator = operator
        self.directory = directory
        self.authority = authority or TicketViewAuthority()
        self.step_delay = step_delay
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._lock = threading.RLock()

    # --- helpers -----------------------------------------------------------------------
    def _host(self, name: str) -> LabHost:
        state = self.store.load_hosts()
        key, suffix = name.upper(), "." + state.domain.upper()
        host = state.hosts.get(key[:-len(suffix)] if key.endswith(suffix) else key)  # short name or FQDN
        if host is None:
            raise HostUnreachable(f"{name}: no such host (WinRM cannot resolve the name)")
        if not host.reachable:
            raise HostUnreachable(f"{name}: WinRM did not answer within the timeout")
        return host

    def _update(self, name: str, change: Callable[[LabHost], None]) -> None:
        with self._lock, self.store.locked():  # read, change and save as one step among processes
            state = self.store.load_hosts()
            host = state.hosts.get(name.upper())
            if host is None or not host.reachable:
                raise HostUnreachable(f"{name}: WinRM did not answer within the timeout")
            change(host)
            self.store.save_hosts(state)

    def _log(self, host: str, event_id: int, message: str, level: str = "Error") -> None:
        entry = HostEvent(time=self.clock(), event_id=event_id, level=level, log=VMMS_LOG, message=message)
        self._update(host, lambda h: h.events.insert(0, entry))

    # --- HostGateway -------------------------------------------------------------------
    def cluster_nodes(self) -> list[ClusterNode]:
        state = self.store.load_hosts()
        if not any(h.reachable for h in state.hosts.values()):
            raise HostUnreachable("no cluster node answered Get-ClusterNode")
        return [ClusterNode(name=h.name, state=h.cluster_state if h.reachable else "Down") for h in state.hosts.values()]

    def host_report(self, host: str) -> HostReport:
        try:
            h = self._host(host)
        except HostUnreachable as exc:
            return HostReport(name=host.upper(), reachable=False, error=str(exc))
        evs = tuple(e.model_copy(update={"cause": events.classify(e.message, e.event_id, e.level)})
                    for e in sorted(h.events, key=lambda e: e.time, reverse=True)[:MAX_EVENTS])
        return HostReport(name=h.name, settings=h.settings, vms=tuple(h.vms), events=evs,
                          addresses=tuple(h.addresses), tickets_issued=h.tickets.issued,
                          clock_offset_s=h.clock_offset_s, memory_free=h.memory_free,
                          processor=h.processor, supported_versions=tuple(h.supported_versions))

    def set_auth_type(self, host: str, auth_type: AuthType) -> None:
        self._update(host, lambda h: setattr(h, "settings", h.settings.model_copy(update={"auth_type": AuthType(auth_type)})))

    def set_migration_enabled(self, host: str, enabled: bool) -> None:
        self._update(host, lambda h: setattr(h, "settings", h.settings.model_copy(update={"migration_enabled": enabled})))

    def purge_tickets(self, host: str) -> None:
        account = self.directory.read_computers([host])
        if not account:
            raise HostError(f"{host}: no computer account found for the SYSTEM logon session")
        a = account[0]
        view = TicketView(issued=self.clock(), allowed_to_delegate_to=list(a.allowed_to_delegate_to), uac=a.uac or 0)
        self._update(host, lambda h: setattr(h, "tickets", view))

    def get_vm(self, host: str, vm: str) -> VirtualMachine | None:
        h = self._host(host)
        return next((v for v in h.vms if v.name.lower() == vm.lower()), None)

    def compare_vm(self, vm: str, source: str, destination: str) -> tuple[Incompatibility, ...]:
        """Compare-VM from the source: it reaches the destination as the operator (so an authentication refusal
        is its error, as Move-VM's), then reports what the destination lacks for this VM."""
        src, dst = self._host(source), self._host(destination)
        machine = next((v for v in src.vms if v.name.lower() == vm.lower()), None)
        if machine is None:
            raise HostError(f"Hyper-V was unable to find a virtual machine with name \"{vm}\".")
        failure = self._refusal(machine.name, src, dst, destination)
        if failure:
            raise HostError(failure)
        return compatibility(machine, src, dst)

    def move_vm(self, vm: str, source: str, destination: str, what_if: bool = False,
                progress: ProgressCallback | None = None) -> MoveResult:
        started = time.monotonic()
        src, dst = self._host(source), self._host(destination)
        if not any(v.name.lower() == vm.lower() for v in src.vms):
            raise HostError(f"Hyper-V was unable to find a virtual machine with name \"{vm}\" on '{src.name}'.")
        failure = self._refusal(vm, src, dst, destination)
        result = partial(MoveResult, vm=vm, source=src.name, destination=dst.name, what_if=what_if)
        if failure:
            if not what_if:
                self._log(src.name, 21024, failure)
            return result(ok=False, error=failure, cause=events.classify(failure),
                          duration_s=time.monotonic() - started)
        if what_if:
            return result(ok=True, duration_s=time.monotonic() - started)
        self._log(src.name, 20413, f"Virtual machine migration of '{vm}' to '{dst.name}' started.", level="Information")
        for pct in range(0, 101, 10):
            if progress:
                progress(MoveProgress(percent=pct, activity=f"Moving virtual machine '{vm}'",
                                      status="Blackout" if pct == 90 else f"{pct}% copied"))
            time.sleep(self.step_delay)
        moved = self._transfer(vm, src.name, dst.name)
        transferred = moved.memory_assigned or moved.memory_startup
        blackout_ms = blackout_for(transferred)
        self._log(src.name, events.BLACKOUT_EVENT, blackout_message(moved.name, blackout_ms), level="Information")
        self._log(src.name, 20417, f"Virtual machine migration of '{vm}' to '{dst.name}' completed successfully.",
                  level="Information")
        return result(ok=True, duration_s=time.monotonic() - started, bytes_transferred=transferred,
                      blackout_ms=blackout_ms)

    # --- Windows' decision -------------------------------------------------------------
    def _refusal(self, vm: str, src: LabHost, dst: LabHost, addressed: str) -> str | None:
        """The error text Windows would give for a remotely started move, or None.

        The source asks the KDC for the destination's SPNs under the name the move is addressed by (short
        name or FQDN): the KDC grants only the exact SPNs listed, unless RBCD on the destination grants
        the source (every SPN of the account, by either name, without protocol transition)."""
        for h in (src, dst):
            if not h.settings.migration_enabled:
                return _error_text(vm, src.name, dst.name,
                                   f"The Virtual Machine Management Service on '{h.name}' is not configured "
                                   "for live migration (migration is disabled).")
        if src.settings.auth_type != dst.settings.auth_type:
            return _error_text(vm, src.name, dst.name, NOT_RECOGNIZED)
        if src.settings.auth_type == AuthType.CREDSSP:
            # CredSSP needs the move started in a session on the source; ours comes over WinRM.
            return _error_text(vm, src.name, dst.name, NO_CREDENTIALS)
        dc_offset = self.directory.dc_clock_offset() or 0.0
        for h in (src, dst):
            if abs(h.clock_offset_s - dc_offset) > MAX_CLOCK_SKEW_S:
                return _error_text(vm, src.name, dst.name, TIME_SKEW)
        fqdn = f"{dst.name}.{self.store.load_hosts().domain}"
        resolved = self.directory.read_dns_records([dst.name]).get(dst.name, ())
        if any(r.address not in dst.addresses for r in resolved):
            return _error_text(vm, src.name, dst.name, WRONG_PRINCIPAL)
        spns = [f"{VSMS}/{fqdn}", f"cifs/{fqdn}"]
        owners = self.directory.find_spn_owners(spns)
        if any(len(names) > 1 for names in owners.values()):
            return _error_text(vm, src.name, dst.name, WRONG_PRINCIPAL)
        operator = self.directory.read_operator(self.operator or self.store.load_hosts().operator or ADMIN_USER,
                                                "the move's operator")
        if operator.not_delegated or operator.protected_users:
            # S4U2Self yields a non-forwardable ticket for such a user: S4U2Proxy is refused
            return _error_text(vm, src.name, dst.name, NO_CREDENTIALS)
        if self._rbcd_grants(src.name, dst.name):
            return None
        name = fqdn if "." in addressed else dst.name
        needed = [f"{VSMS}/{name}"]
        if src.settings.performance_option == PerformanceOption.SMB:
            needed.append(f"cifs/{name}")
        verdicts = [self.authority.allows(src.name, src.tickets, spn) for spn in needed]  # every one is asked
        if not all(allowed for allowed, _why in verdicts):
            return _error_text(vm, src.name, dst.name, NO_CREDENTIALS)
        return self._share_refusal(vm, src, dst)

    def _share_refusal(self, vm: str, src: LabHost, dst: LabHost) -> str | None:
        """A VM on an SMB share: both hosts open its files for the operator, so both need cifs/<file server>
        (in the form the path names it)."""
        machine = next(v for v in src.vms if v.name.lower() == vm.lower())
        first_path: dict[str, str] = {}
        for path in machine.paths:
            if (server := storage.file_server(path)) is not None:
                first_path.setdefault(server, path)
        for server, path in first_path.items():
            for host in (src, dst):
                allowed, _why = self.authority.allows(host.name, host.tickets, f"cifs/{server}")
                if not allowed:
                    return (f"Virtual machine migration operation for '{vm}' failed at migration "
                            f"{'source' if host is src else 'destination'} '{host.name}'.\n"
                            f"'{vm}' failed to open '{path}': General access denied error (0x80070005).")
        return None

    def _rbcd_grants(self, source: str, destination: str) -> bool:
        """Windows' RBCD decision (a 2012+ KDC): the destination's descriptor grants the source's token."""
        accounts = {a.name: a for a in self.directory.read_computers([source, destination])}
        return rbcd_grant(accounts.get(destination), accounts.get(source)) is not None

    def _transfer(self, vm: str, source: str, destination: str) -> VirtualMachine:
        with self._lock, self.store.locked():
            state = self.store.load_hosts()
            src, dst = state.hosts[source], state.hosts[destination]
            moved = next(v for v in src.vms if v.name.lower() == vm.lower())
            src.vms = [v for v in src.vms if v is not moved]
            dst.vms.append(moved.model_copy(update={"host": destination}))
            self.store.save_hosts(state)
            return moved

    def close(self) -> None:
        pass


def compatibility(vm: VirtualMachine, src: LabHost, dst: LabHost) -> tuple[Incompatibility, ...]:
    """What Compare-VM reports for moving `vm` from `src` to `dst`: processor features (without processor
    compatibility mode), memory (the destination's free memory against the VM's), its network adapters' switches
    and its configuration version."""
    found = []
    if src.processor and dst.processor and src.processor != dst.processor and not vm.processor_compatibility:
        found.append(Incompatibility(
            message=f"Virtual machine '{vm.name}' is using processor-specific features not supported on host "
                    f"'{dst.name}'. To allow for migration of this virtual machine to a server with a different "
                    "processor, modify the virtual machine settings to limit the processor features used by the "
                    "virtual machine.", message_id=PROCESSOR_FEATURES, source=f"VMProcessor (VMName = '{vm.name}')"))
    needed = 0 if vm.state.lower() in ("off", "saved") else vm.memory_assigned or vm.memory_startup
    if dst.memory_free is not None and dst.memory_free < needed:
        found.append(Incompatibility(message=f"'{vm.name}' could not initialize memory: Ran out of memory "
                                             "(0x8007000E).", message_id=MEMORY,
                                     source=f"VMMemory (VMName = '{vm.name}')"))
    for switch in src.vm_switches.get(vm.name, ["LAN"]):
        if switch not in dst.switches:
            found.append(Incompatibility(message=f"Could not find Ethernet switch '{switch}'.",
                                         message_id=SWITCH_MISSING,
                                         source=f"VMNetworkAdapter (Name = 'Network Adapter', VMName = '{vm.name}')"))
    if vm.version and dst.supported_versions and vm.version not in dst.supported_versions:
        found.append(Incompatibility(message=f"The virtual machine '{vm.name}' has configuration version "
                                             f"{vm.version}, which host '{dst.name}' does not support.",
                                     message_id=CONFIGURATION_VERSION, source=f"VirtualMachine (Name = '{vm.name}')"))
    return tuple(found)
