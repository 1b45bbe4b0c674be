"""The real host gateway: PowerShell remoting (WinRM/PSRP) to each Hyper-V host with pypsrp.

Every command is built with add_cmdlet/add_parameter/add_argument, so names and values travel as
typed PSRP parameters and are never parsed as PowerShell source. One runspace pool per host is
opened on first use, reused, and closed by close(); calls to one host are serialised by that
host's lock, different hosts run in parallel (the inventory asks them concurrently).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

import requests
from pypsrp.exceptions import AuthenticationError, WinRMError, WinRMTransportError, WSManFaultError
from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool
from pypsrp.wsman import WSMan

from lmdoctor.services.backends.hosts import psobjects, winrm_auth
from lmdoctor.services.backends.hosts.base import (
    CommandMissing,
    HostError,
    HostUnreachable,
    ProgressCallback,
    Unconfirmed,
)
from lmdoctor.services.domain import events
from lmdoctor.services.domain.models import (
    AuthType,
    ClusterNode,
    HostReport,
    Incompatibility,
    MoveProgress,
    MoveResult,
    VirtualMachine,
)
from lmdoctor.services.storage.profiles import Profile

MAX_EVENTS = 60
EVENT_LOGS = ("Microsoft-Windows-Hyper-V-VMMS-Admin", "Microsoft-Windows-Hyper-V-High-Availability-Admin")
EVENT_LEVELS = (1, 2, 3)  # Critical, Error, Warning
MAX_CLOCK_SKEW_S = 300  # Kerberos' tolerance: hosts whose clocks differ more cannot migrate at all
SYSTEM_LOGON_ID = "0x3e7"  # the SYSTEM logon session VMMS runs in
WSMAN_UNKNOWN_SHELL = 0x8033805B  # ERROR_WSMAN_INVALID_SELECTORS: the shell is gone on the host
_TOLERATED_EVENT_ERRORS = ("NoMatchingEventsFound", "NoMatchingLogsFound")
_CATEGORY_INVALID_ARGUMENT, _CATEGORY_OBJECT_NOT_FOUND = 5, 13
_COMMAND_NOT_FOUND = "CommandNotFoundException"  # FullyQualifiedErrorId of a command the host does not have
_TRANSPORT_ERRORS = (requests.exceptions.RequestException, WinRMError, OSError, *winrm_auth.AUTH_ERRORS)
_UNREADABLE = (ValueError, KeyError, TypeError, OverflowError)  # an answer that is not what the cmdlet returns

Build = Callable[[PowerShell], Any]


@dataclass(frozen=True)
class WinRMSettings:
    """How to reach every host: transport, port, authentication, certificate validation, timeouts."""

    transport: str = "https"
    port: int | None = None
    auth: str = "negotiate"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cert_validation: bool | str = True  # True: system trust store; a path: that CA file
    timeout_s: float = 15.0
    domain: str | None = None
    path: str = "wsman"

    def __post_init__(self) -> None:
        if self.transport == "http" and self.auth == "basic":
            raise ValueError("Basic authentication over HTTP would send the password unencrypted; use https")
        if self.auth in ("basic", "credssp") and not (self.username and self.password):
            raise ValueError(f"{self.auth} authentication needs a user name and a password (none in the keyring "
                             "and no terminal to ask)")
        if self.cert_validation is False and self.transport == "https":
            raise ValueError("certificate validation cannot be turned off")

    def server(self, host: str) -> str:
        """The name WinRM (and Kerberos: HTTP/<name>) is asked for: the FQDN of a short host name."""
        return host if "." in host or not self.domain else f"{host}.{self.domain}"

    @property
    def operation_timeout(self) -> int:
        return max(1, math.ceil(self.timeout_s))

    @property
    def read_timeout(self) -> int:
        return self.operation_timeout + max(1, math.ceil(self.timeout_s / 2))

    def wsman_kwargs(self, host: str) -> dict[str, Any]:
        https = self.transport == "https"
        spn = {"negotiate_service": winrm_auth.SPN_SERVICE} if self.auth in ("negotiate", "kerberos") else {}
        return {**spn,
            "server": self.server(host), "port": self.port, "path": self.path, "ssl": https, "auth": self.auth,
            "username": self.username, "password": self.password,
            "cert_validation": self.cert_validation if https else True,
            "encryption": "auto", "no_proxy": True,
            "connection_timeout": self.operation_timeout, "operation_timeout": self.operation_timeout,
            "read_timeout": self.read_timeout,
        }


Resolve = Callable[[str], tuple[str, int]]  # host -> (server, port), for non-DNS setups such as tests


class _HostLink:
    """One host's runspace pool and the lock that serialises its use."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pool: RunspacePool | None = None
        self.wsman: WSMan | None = None


class PsrpHostGateway:
    """HostGateway over PowerShell remoting."""

    def __init__(self, settings: WinRMSettings, seeds: Sequence[str] = (), resolve: Resolve | None = None) -> None:
        self.settings = settings
        self.seeds = tuple(seeds)
        self.resolve = resolve
        self._links: dict[str, _HostLink] = {}
        self._links_lock = threading.Lock()

    @classmethod
    def from_profile(cls, profile: Profile, password: str | None) -> PsrpHostGateway:
        """A gateway for a profile's hosts: certificate validation on (the profile's CA file or the system store)."""
        try:
            settings = WinRMSettings(
                transport=profile.winrm_transport, port=profile.winrm_port, auth=profile.winrm_auth,
                username=profile.winrm_username if profile.winrm_auth != "kerberos" else None,
                password=password if profile.winrm_auth != "kerberos" else None,
                cert_validation=str(profile.winrm_ca_file) if profile.winrm_ca_file else True,
                timeout_s=profile.timeout_s, domain=profile.domain)
        except ValueError as exc:
            raise HostError(f"profile {profile.name}: {exc}") from None
        return cls(settings, seeds=(*profile.nodes, profile.cluster))

    # --- connections -------------------------------------------------------------------
    def _link(self, host: str) -> _HostLink:
        with self._links_lock:
            return self._links.setdefault(host.upper(), _HostLink())

    def _open(self, host: str, link: _HostLink) -> RunspacePool:
        if link.pool is not None:
            return link.pool
        kwargs = self.settings.wsman_kwargs(host)
        if self.resolve is not None:
            kwargs["server"], kwargs["port"] = self.resolve(host)
        wsman = WSMan(**kwargs)
        winrm_auth.require_sealed_replies(wsman)
        pool = RunspacePool(wsman)
        try:
            pool.open()
        except BaseException:
            wsman.close()
            raise
        link.wsman, link.pool = wsman, pool
        return pool

    @staticmethod
    def _drop(link: _HostLink, polite: bool) -> None:
        pool, wsman, link.pool, link.wsman = link.pool, link.wsman, None, None
        try:
            if polite and pool is not None:
                pool.close()
        except Exception:  # the shell times out on the host by itself
            pass
        finally:
            if wsman is not None:
                wsman.close()

    def _run(self, host: str, build: Build, progress: ProgressCallback | None = None) -> PowerShell:
        """Run one pipeline on a host; wrap transport failures in HostUnreachable.

        A reused pool whose shell the host has discarded (idle timeout, WinRM restart) is reopened
        once, but only when the command was refused before it started, so nothing runs twice."""
        link = self._link(host)
        with link.lock:
            for attempt in (1, 2):
                reused = link.pool is not None
                try:
                    ps = self._start(host, link, build)
                    break
                except WSManFaultError as exc:
                    self._drop(link, polite=False)
                    if not (reused and attempt == 1 and exc.code == WSMAN_UNKNOWN_SHELL):
                        raise HostUnreachable(f"{host}: {self._describe(exc, host)}") from None
                except _TRANSPORT_ERRORS as exc:
                    self._drop(link, polite=False)
                    raise HostUnreachable(f"{host}: {self._describe(exc, host)}") from None
            try:
                seen = 0
                while ps.state == PSInvocationState.RUNNING:
                    ps.poll_invoke()
                    if progress is not None:
                        for record in ps.streams.progress[seen:]:
                            progress(_move_progress(record))
                        seen = len(ps.streams.progress)
            except _TRANSPORT_ERRORS as exc:
                self._drop(link, polite=False)
                raise HostUnreachable(f"{host}: {self._describe(exc, host)}") from None
            self._release(link, ps)
            return ps

    def _start(self, host: str, link: _HostLink, build: Build) -> PowerShell:
        ps = PowerShell(self._open(host, link))
        build(ps)
        ps.begin_invoke()
        return ps

    def _describe(self, exc: BaseException, host: str) -> str:
        """One line on why a host did not answer (timeouts, TLS, HTTP status, WSMan fault, credentials)."""
        settings = self.settings
        server = self.resolve(host)[0] if self.resolve is not None else settings.server(host)
        auth_failure = winrm_auth.describe(exc, server, settings.auth, settings.username, settings.domain)
        if auth_failure:
            return auth_failure
        if isinstance(exc, AuthenticationError):
            return f"WinRM refused the credentials ({exc})"
        if isinstance(exc, WSManFaultError):
            return f"WinRM fault {exc.code:#x}: {exc.reason or exc}"
        if isinstance(exc, WinRMTransportError):
            return f"WinRM answered HTTP {exc.code}: {_first_line(exc.response_text)}"
        if isinstance(exc, requests.exceptions.Timeout):
            return f"WinRM did not answer within {self.settings.read_timeout} s"
        if isinstance(exc, requests.exceptions.SSLError):
            return f"TLS failed (certificate not trusted?): {exc}"
        return f"WinRM connection failed: {type(exc).__name__}: {exc}"

    def _release(self, link: _HostLink, ps: PowerShell) -> None:
        """Signal Terminate for a finished pipeline; the answer is already in hand, so a failure only drops the pool."""
        try:
            ps.close()
        except Exception:
            self._drop(link, polite=False)

    def _call(self, host: str, cmdlet: str, *args: Any, stop: bool = False, **params: Any) -> list[Any]:
        """Run one cmdlet and return its output; any error record becomes a HostError with its text."""
        ps = self._run(host, lambda p: _command(p, cmdlet, args, params, stop))
        _raise_errors(host, cmdlet, ps)
        return ps.output

    def _pipeline(self, host: str, *commands: tuple[str, dict[str, Any]]) -> list[Any]:
        """A pipeline of cmdlets (e.g. Get-VM | Get-VMHardDiskDrive), each with typed parameters."""
        def build(p: PowerShell) -> None:
            for cmdlet, params in commands:
                _command(p, cmdlet, (), params, False)

        ps = self._run(host, build)
        _raise_errors(host, " | ".join(c for c, _ in commands), ps)
        return ps.output

    # --- HostGateway -------------------------------------------------------------------
    def cluster_nodes(self) -> list[ClusterNode]:
        failures = []
        for seed in self.seeds:
            try:
                return [psobjects.cluster_node(o) for o in self._call(seed, "Get-ClusterNode")]
            except HostError as exc:
                failures.append(str(exc))
            except _UNREADABLE as exc:
                failures.append(f"{seed}: unreadable Get-ClusterNode answer: {exc}")
        raise HostUnreachable("no cluster node answered Get-ClusterNode: " + ("; ".join(failures) or "no host to ask"))

    def host_report(self, host: str) -> HostReport:
        name = host.upper()
        try:
            (vmhost,) = self._call(host, "Get-VMHost")
            networks = self._call(host, "Get-VMMigrationNetwork")
            compatible = psobjects.compatible_vms(self._optional(host, "Get-VMProcessor", VMName="*"))
            disks = psobjects.disk_paths(self._pipeline(host, ("Get-VM", {}), ("Get-VMHardDiskDrive", {})))
            vms = [psobjects.virtual_machine(o, name, disks.get(str(psobjects.props(o).get("Name", "")).lower(), ()),
                                             compatible)
                   for o in self._call(host, "Get-VM")]
            evs = self._events(host)
            addresses = self._addresses(host)
            clock_offset, tickets = self._clock_and_tickets(host)
            settings = psobjects.vmhost_settings(vmhost, networks)
            capacity = self._capacity(host)
        except HostError as exc:
            return HostReport(name=name, reachable=False, error=str(exc))
        except _UNREADABLE as exc:  # an answer we cannot read is a failure, not a guess
            return HostReport(name=name, reachable=False, error=f"{host}: unreadable answer: {exc}")
        return HostReport(name=name, settings=settings, vms=tuple(vms), events=evs, addresses=addresses,
                          tickets_issued=tickets, clock_offset_s=clock_offset, **capacity)

    def _optional(self, host: str, cmdlet: str, **params: Any) -> list[Any]:
        """A drain fact: an older host without the cmdlet leaves it unreported instead of failing the report.
        Transport failures still propagate (HostUnreachable)."""
        try:
            return self._call(host, cmdlet, **params)
        except HostUnreachable:
            raise
        except HostError:
            return []

    def _capacity(self, host: str) -> dict[str, Any]:
        """Free memory, processor model and supported configuration versions (for drain readiness)."""
        return {
            "memory_free": psobjects.free_memory(self._optional(host, "Get-CimInstance",
                                                                ClassName="Win32_OperatingSystem")),
            "processor": psobjects.processor_name(self._optional(host, "Get-CimInstance",
                                                                 ClassName="Win32_Processor")),
            "supported_versions": psobjects.supported_versions(self._optional(host, "Get-VMHostSupportedVersion")),
        }

    def _events(self, host: str) -> tuple:
        query = {"LogName": list(EVENT_LOGS), "Level": list(EVENT_LEVELS)}
        ps = self._run(host, lambda p: _command(p, "Get-WinEvent", (), {"FilterHashtable": query,
                                                                          "MaxEvents": MAX_EVENTS}, False))
        errors = [e for e in ps.streams.error if not psobjects.error_id(e).startswith(_TOLERATED_EVENT_ERRORS)]
        if errors:
            raise HostError(f"{host}: Get-WinEvent: {psobjects.error_text(errors[0])}")
        found = sorted((psobjects.host_event(o) for o in ps.output), key=lambda e: e.time, reverse=True)
        return tuple(found[:MAX_EVENTS])

    def _addresses(self, host: str) -> tuple[str, ...]:
        found = (str(psobjects.props(o).get("IPAddress")) for o in self._call(host, "Get-NetIPAddress",
                                                                             AddressFamily="IPv4"))
        return tuple(sorted({a for a in found if not a.startswith(("127.", "169.254."))}))

    def _clock_and_tickets(self, host: str) -> tuple[float, datetime | None]:
        """The host's clock minus ours (its Get-Date against the middle of the call) and its SYSTEM TGT's start."""
        asked = datetime.now(timezone.utc)
        (now,) = self._call(host, "Get-Date")
        answered = datetime.now(timezone.utc)
        offset = (psobjects.host_datetime(now) - (asked + (answered - asked) / 2)).total_seconds()
        lines = self._call(host, "klist.exe", "-li", SYSTEM_LOGON_ID)
        return offset, psobjects.klist_tgt_start(lines, psobjects.local_offset(now))

    def set_auth_type(self, host: str, auth_type: AuthType) -> None:
        self._call(host, "Set-VMHost", VirtualMachineMigrationAuthenticationType=AuthType(auth_type).value, stop=True)

    def set_migration_enabled(self, host: str, enabled: bool) -> None:
        self._call(host, "Enable-VMMigration" if enabled else "Disable-VMMigration", stop=True)

    def purge_tickets(self, host: str) -> None:
        """Purge, then read the SYSTEM session's tickets back: confirmed when the cache is empty or holds only
        tickets issued since (klist's words are localised; its layout and dates are not)."""
        (before,) = self._call(host, "Get-Date")
        said = " ".join(str(line).strip() for line in self._call(host, "klist.exe", "purge", "-li", SYSTEM_LOGON_ID))
        try:
            listing = self._call(host, "klist.exe", "-li", SYSTEM_LOGON_ID)
        except HostError as exc:
            raise Unconfirmed(f"{host}: klist purge -li {SYSTEM_LOGON_ID} sent; reading the tickets back failed: "
                              f"{exc}", said.strip()) from None
        if not psobjects.klist_purged(listing, psobjects.local_offset(before), psobjects.host_datetime(before)):
            raise Unconfirmed(f"{host}: klist purge -li {SYSTEM_LOGON_ID} sent; the ticket cache still lists "
                              "tickets older than the purge", said.strip())

    def get_vm(self, host: str, vm: str) -> VirtualMachine | None:
        ps = self._run(host, lambda p: _command(p, "Get-VM", (), {"ComputerName": host, "Name": vm}, False))
        missing = [e for e in ps.streams.error if _is_not_found(e)]
        if ps.streams.error and len(missing) < len(ps.streams.error):
            _raise_errors(host, "Get-VM", ps)
        try:
            found = [psobjects.virtual_machine(o, host.upper()) for o in ps.output]
        except _UNREADABLE as exc:
            raise HostError(f"{host}: unreadable Get-VM answer: {exc}") from None
        return next((v for v in found if v.name.lower() == vm.lower()), None)

    def compare_vm(self, vm: str, source: str, destination: str) -> tuple[Incompatibility, ...]:
        """Compare-VM -Name vm -DestinationHost destination on the source (as Move-VM runs there), piped to
        Select-Object -ExpandProperty Incompatibilities: each VMCompatibilityError then arrives as an object of
        its own with Message and MessageId (inside the report, remoting's serialization depth would leave them as
        text); a compatible VM's empty or null list yields nothing."""
        def build(p: PowerShell) -> None:
            _command(p, "Compare-VM", (), {"Name": vm, "DestinationHost": destination}, False)
            _command(p, "Select-Object", (), {"ExpandProperty": "Incompatibilities"}, False)

        ps = self._run(source, build)
        if ps.streams.error or ps.state == PSInvocationState.FAILED:
            first = ps.streams.error[0] if ps.streams.error else None
            text = psobjects.error_text(first) if first is not None else "Compare-VM failed without an error record"
            if first is not None and psobjects.error_id(first).startswith(_COMMAND_NOT_FOUND):
                raise CommandMissing(f"{source}: Compare-VM is not available: {text}")
            raise HostError(text)
        try:
            return psobjects.incompatibilities(ps.output)
        except _UNREADABLE as exc:
            raise HostError(f"{source}: unreadable Compare-VM answer: {exc}") from None

    def move_vm(self, vm: str, source: str, destination: str, what_if: bool = False,
                progress: ProgressCallback | None = None) -> MoveResult:
        started = time.monotonic()
        since = datetime.now(timezone.utc) - timedelta(seconds=MAX_CLOCK_SKEW_S)  # the hosts' clocks may differ
        params: dict[str, Any] = {"Name": vm, "DestinationHost": destination}
        if what_if:
            params["WhatIf"] = True
        ps = self._run(source, lambda p: _command(p, "Move-VM", (), params, True), progress=progress)
        result = partial(MoveResult, vm=vm, source=source.upper(), destination=destination.upper(), what_if=what_if)
        if ps.streams.error or ps.state == PSInvocationState.FAILED:
            text = psobjects.error_text(ps.streams.error[0]) if ps.streams.error else "Move-VM failed"
            if ps.streams.error and _is_not_found(ps.streams.error[0]):
                raise HostError(text)
            return result(ok=False, error=text, cause=events.classify(text), duration_s=time.monotonic() - started)
        duration = time.monotonic() - started
        blackout = None if what_if else self._blackout(vm, (source, destination), since)
        return result(ok=True, duration_s=duration, blackout_ms=blackout)

    def _blackout(self, vm: str, hosts: Sequence[str], since: datetime) -> float | None:
        """The blackout time of the move just made, from the newest VMMS-Admin 20415 event since `since` naming the
        VM on the source or the destination (Move-VM itself returns nothing; Windows reports no transferred bytes).
        Never fails the move: an unreadable or absent event gives None. The time is compared here: pypsrp cannot
        send a DateTime inside the FilterHashtable."""
        query = {"LogName": EVENT_LOGS[0], "Id": events.BLACKOUT_EVENT}
        found: list[tuple[datetime, float]] = []
        for host in hosts:
            try:
                ps = self._run(host, lambda p: _command(p, "Get-WinEvent", (), {"FilterHashtable": query,
                                                                                  "MaxEvents": 20}, False))
                for record in ps.output:
                    event = psobjects.host_event(record)
                    if event.time >= since and (ms := events.blackout_ms(event.message, vm)) is not None:
                        found.append((event.time, ms))
            except (HostError, *_UNREADABLE):
                continue
        return max(found)[1] if found else None

    def close(self) -> None:
        with self._links_lock:
            links, self._links = list(self._links.values()), {}
        for link in links:
            with link.lock:
                self._drop(link, polite=True)


def _command(ps: PowerShell, cmdlet: str, args: Sequence[Any], params: dict[str, Any], stop: bool) -> None:
    """One command, its values as PSRP parameters/arguments (a switch: True)."""
    ps.add_cmdlet(cmdlet)
    for key, value in params.items():
        if value is True:
            ps.add_parameter(key)
        else:
            ps.add_parameter(key, value)
    for value in args:
        ps.add_argument(value)
    if stop:
        ps.add_parameter("ErrorAction", "Stop")


def _raise_errors(host: str, cmdlet: str, ps: PowerShell) -> None:
    if ps.streams.error:
        raise HostError(f"{host}: {cmdlet}: {psobjects.error_text(ps.streams.error[0])}")
    if ps.state == PSInvocationState.FAILED:
        raise HostError(f"{host}: {cmdlet} failed without an error record")


def _is_not_found(record: Any) -> bool:
    category = psobjects.error_category(record)
    text = psobjects.error_text(record).lower()
    return category == str(_CATEGORY_OBJECT_NOT_FOUND) or (
        category == str(_CATEGORY_INVALID_ARGUMENT) and "unable to find a virtual machine" in text)


def _move_progress(record: Any) -> MoveProgress:
    percent = getattr(record, "percent_complete", -1)
    return MoveProgress(percent=max(0, min(100, int(percent if percent is not None else 0))),
                        activity=str(getattr(record, "activity", "") or ""),
                        status=str(getattr(record, "description", "") or ""))


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0][:200] if (text or "").strip() else "no body"
