"""Build the embedded lab's scenarios (services/lab/scenarios.py) on a real Samba AD DC.

The directory side becomes real objects on the DC: the lab's computer accounts (HV01–HV04 with
their real SPNs and delegation, the cluster name object, unrelated workstations, a stale
HV02-OLD) and its dnsNode records. What Samba refuses online — a true duplicate SPN — is
injected offline into the partition's tdb. The host side stays the lab's simulated hosts
(``hosts.json`` in a lab directory), read by ``LabHostGateway``.

Kerberos ticket times are real: every host's SYSTEM tickets are "issued" after the objects were
written, except where the scenario says a node's account changed after its tickets (then that
node's delegation values are written a second later).

Also here, shared by the Samba suites and tests/perf/bench_triage.py: ``KdcAuthority`` (the KDC decides
a lab host's Move-VM), ``populate`` (an operator Domain Admin and four nodes) and healthy clusters of
any size (``create_clusters``, ``lab_hosts``, ``MemoryHosts``).
"""

from __future__ import annotations

import base64
import sys
import time
import types
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest
from ldap3 import BASE, MODIFY_ADD, MODIFY_REPLACE, Connection
from ldap3.core.exceptions import LDAPNoSuchObjectResult
from winacl.dtyp.sid import SID

from lmdoctor.services.backends.directory import dnsrecord
from lmdoctor.services.backends.directory.connect import connect
from lmdoctor.services.backends.lab import scenarios
from lmdoctor.services.backends.lab.hosts import DelegationAuthority, LabHostGateway, TicketViewAuthority
from lmdoctor.services.backends.lab.scenarios import COMPUTERS, ZONE_DN, Lab
from lmdoctor.services.backends.lab.state import LabHost, LabHosts, LabStore, TicketView
from lmdoctor.services.domain import rbcd, replmeta
from lmdoctor.services.domain.models import (
    UAC_TRUSTED_TO_AUTH_FOR_DELEGATION,
    UAC_WORKSTATION_TRUST_ACCOUNT,
    AuthType,
    ClusterNode,
    HostReport,
    VirtualMachine,
    VMHostSettings,
)
from lmdoctor.services.domain.spn import delegation_targets, required_host_spns, spn_key
from lmdoctor.services.storage import credentials, profiles
from lmdoctor.services.storage.profiles import Profile
from tests.samba.harness import (
    ADMIN_PASSWORD,
    BASE_DN,
    COMPUTERS_DN,
    DNS_ZONE_DN,
    SambaDC,
    inject_duplicate_spns_offline,
    modify_offline,
)

DELEGATE = "msDS-AllowedToDelegateTo"
COMPUTER_CLASSES = ["top", "person", "organizationalPerson", "user", "computer"]


@dataclass
class DcScenario:
    """A lab scenario as built on the DC: its definition, the lab directory with its hosts, and the objects."""

    name: str
    lab: Lab
    lab_dir: Path
    computers: dict[str, str] = field(default_factory=dict)  # short name -> DN
    duplicates: dict[str, list[str]] = field(default_factory=dict)  # DN -> SPNs injected offline
    seconds: float = 0.0

    @property
    def store(self) -> LabStore:
        return LabStore(self.lab_dir)


def machine_password(name: str) -> str:
    """The throw-away machine password of a scenario computer (its keys come from exportkeytab)."""
    return f"{name}-Secret-Pw1!"


def _first(entry: dict, attribute: str) -> str:
    value = entry[attribute][0]
    return value.decode() if isinstance(value, bytes) else str(value)


def _stale_nodes(lab: Lab) -> set[str]:
    """Nodes whose delegation the scenario changed after their SYSTEM tickets were issued (by the lab's
    replication metadata: logon bookkeeping moves whenChanged, not delegation)."""
    stale = set()
    for name, host in lab.hosts.hosts.items():
        changes = replmeta.from_xml(lab.computer(name).get(replmeta.XML_ATTRIBUTE, []))
        if any(when > host.tickets.issued for when in changes.values()):
            stale.add(name)
    return stale


def _add_computer(conn: Connection, dn: str, entry: dict, spns: list[str], delegate: list[str]) -> None:
    name = _first(entry, "cn")
    attributes: dict[str, object] = {
        "sAMAccountName": _first(entry, "sAMAccountName"),
        "dNSHostName": _first(entry, "dNSHostName"),
        "userAccountControl": int(_first(entry, "userAccountControl")),
        "unicodePwd": f'"{machine_password(name)}"'.encode("utf-16-le"),
    }
    if spns:
        attributes["servicePrincipalName"] = spns
    if delegate:
        attributes[DELEGATE] = delegate
    if "msDS-SupportedEncryptionTypes" in entry:
        attributes["msDS-SupportedEncryptionTypes"] = int(_first(entry, "msDS-SupportedEncryptionTypes"))
    conn.add(dn, COMPUTER_CLASSES, attributes)


def _add_users(conn: Connection, lab: Lab) -> None:
    """The scenario's users under CN=Users that a fresh DC lacks (Administrator exists), with a password."""
    for dn, entry in lab.entries.items():
        classes = {str(c).lower() for c in entry.get("objectClass", [])}
        if "user" in classes and "computer" not in classes and dn.endswith(",CN=Users," + scenarios.BASE_DN):
            try:
                conn.search(dn, "(objectClass=user)", BASE, attributes=["cn"])
            except LDAPNoSuchObjectResult:
                name = _first(entry, "sAMAccountName")
                conn.add(dn, ["top", "person", "organizationalPerson", "user"], {
                    "sAMAccountName": name, "userPrincipalName": _first(entry, "userPrincipalName"),
                    "userAccountControl": int(_first(entry, "userAccountControl")),
                    "unicodePwd": f'"{machine_password(name)}"'.encode("utf-16-le")})


def _add_groups(conn: Connection, lab: Lab) -> None:
    """The scenario's groups: new ones are created; those a DC already has (Protected Users) get the members.
    Groups are added before they are made members of another, so nesting is kept."""
    groups = {dn: e for dn, e in lab.entries.items() if "group" in {str(c).lower() for c in e.get("objectClass", [])}}
    for dn, entry in groups.items():
        try:
            conn.search(dn, "(objectClass=group)", BASE, attributes=["cn"])
        except LDAPNoSuchObjectResult:
            conn.add(dn, ["top", "group"], {"sAMAccountName": _first(entry, "sAMAccountName")})
    for dn, entry in groups.items():
        if members := [str(m) for m in entry.get("member", [])]:
            conn.modify(dn, {"member": [(MODIFY_ADD, members)]})


def _wait_past_second(instant: datetime) -> None:
    """Sleep until whenChanged (whole seconds) of a write made now is later than ``instant``."""
    target = int(instant.timestamp()) + 1.05
    time.sleep(max(0.0, target - time.time()))


def build_on_dc(dc: SambaDC, scenario: str, lab_dir: Path | str, now: datetime | None = None) -> DcScenario:
    """Create ``scenario``'s objects on ``dc`` and its hosts in ``lab_dir``; returns what was built.

    Computers outside CN=Computers (the lab's DC01) and users (Administrator) already exist on a
    real DC and are skipped."""
    started = time.monotonic()
    lab = scenarios.build(scenario, now)
    built = DcScenario(name=scenario, lab=lab, lab_dir=Path(lab_dir))
    stale = _stale_nodes(lab)
    deferred: dict[str, list[str]] = {}
    held: set[str] = set()
    conn = dc.ldap()
    try:
        for dn, entry in lab.entries.items():
            classes = {str(c).lower() for c in entry.get("objectClass", [])}
            if "computer" in classes and dn.endswith("," + COMPUTERS):
                name = _first(entry, "cn")
                spns = [str(s) for s in entry.get("servicePrincipalName", [])]
                mine = [s for s in spns if spn_key(s) not in held]
                if dups := [s for s in spns if spn_key(s) in held]:
                    built.duplicates[dn] = dups
                held |= {spn_key(s) for s in mine}
                delegate = [str(v) for v in entry.get(DELEGATE, [])]
                if name in stale:
                    deferred[dn], delegate = delegate, []
                _add_computer(conn, dn, entry, mine, delegate)
                built.computers[name.upper()] = dn
            elif "dnsnode" in classes and dn.endswith("," + ZONE_DN):
                conn.add(dn, ["top", "dnsNode"], {"dnsRecord": list(entry["dnsRecord"])})
        _add_users(conn, lab)
        _add_groups(conn, lab)
    finally:
        conn.unbind()
    inject_duplicate_spns_offline(dc, built.duplicates)
    _put_rbcd_descriptors(dc, lab, built.computers)
    issued = datetime.now(timezone.utc)
    for host in lab.hosts.hosts.values():
        host.tickets = host.tickets.model_copy(update={"issued": issued})
    built.store.save_hosts(lab.hosts)
    built.store.save_entries({})  # the directory is the DC; the lab file only marks the lab dir as complete
    built.store.save_scenario(scenario)
    if deferred:
        _wait_past_second(issued)
        conn = dc.ldap()
        try:
            for dn, values in deferred.items():
                change = [(MODIFY_ADD, values)] if values else [(MODIFY_REPLACE, ["changed after its tickets"])]
                conn.modify(dn, {DELEGATE if values else "description": change})
        finally:
            conn.unbind()
    built.seconds = time.monotonic() - started
    return built


def _put_rbcd_descriptors(dc: SambaDC, lab: Lab, computers: dict[str, str]) -> None:
    """The scenario's RBCD descriptors, rewritten to name the DC's SIDs of the lab's computers, put into the
    partition offline (Samba 4.17 lets only the system write msDS-AllowedToActOnBehalfOfOtherIdentity)."""
    lab_names = {scenarios.sid_of(name): name for name in computers}
    ldif = ""
    for name, dn in computers.items():
        blobs = lab.computer(name).get(scenarios.RBCD) if f"CN={name},{COMPUTERS}" in lab.entries else None
        if not blobs:
            continue
        def on_dc(sids: tuple[str, ...]) -> list[str]:
            return [str(SID.from_bytes(dc.read(computers[lab_names[s]], ["objectSid"])["objectSid"][0])) for s in sids]
        blob = rbcd.descriptor(on_dc(rbcd.allowed_sids(blobs[0])), on_dc(rbcd.denied_sids(blobs[0])))
        ldif += f"dn: {dn}\nchangetype: modify\nreplace: {scenarios.RBCD}\n{scenarios.RBCD}:: {base64.b64encode(blob).decode()}\n\n"
    if ldif:
        modify_offline(dc, ldif)


def finding_keys(findings: Iterable[dict]) -> set[tuple[str, str | None, str | None]]:
    """(code, source, target) of each finding in ``lmdoctor check --json`` output."""
    return {(f["code"], f.get("source"), f.get("target")) for f in findings}


def node_attributes(name: str, peers: Iterable[str], *, uac: int = UAC_WORKSTATION_TRUST_ACCOUNT
                    | UAC_TRUSTED_TO_AUTH_FOR_DELEGATION) -> dict[str, object]:
    """A healthy cluster node's computer account: its SPNs and delegation to every peer's services."""
    fqdn = f"{name}.{scenarios.DOMAIN}"
    delegate = [s for p in peers if p != name for s in delegation_targets(p, f"{p}.{scenarios.DOMAIN}")]
    attributes: dict[str, object] = {
        "sAMAccountName": f"{name}$", "dNSHostName": fqdn, "userAccountControl": uac,
        "servicePrincipalName": list(required_host_spns(name, fqdn)),
        "unicodePwd": f'"{machine_password(name)}"'.encode("utf-16-le"),
    }
    if delegate:
        attributes[DELEGATE] = delegate
    return attributes


def add_cluster(conn: Connection, names: Iterable[str], **kwargs: int) -> dict[str, str]:
    """Create healthy nodes ``names`` (full-mesh delegation) through ``conn``; returns name -> DN."""
    names = list(names)
    created = {}
    for name in names:
        dn = f"CN={name},{COMPUTERS}"
        conn.add(dn, COMPUTER_CLASSES, node_attributes(name, names, **kwargs))
        created[name] = dn
    return created


def save_profile(dc: SambaDC, name: str = "samba") -> Profile:
    """Save profile ``name`` for ``dc`` (by address: its name does not resolve here) in lmdoctor's config
    dir, and the Administrator password in the OS keyring only."""
    profile = Profile(name=name, domain=scenarios.DOMAIN, dc=dc.ip, ca_file=dc.ca_file,
                      bind_user=scenarios.ADMIN_USER, cluster=scenarios.CLUSTER, timeout_s=10)
    profiles.save(profile)
    credentials.set_password(profile.name, profile.bind_user, ADMIN_PASSWORD)
    return profile


def forget_profile(profile: Profile) -> None:
    credentials.delete_password(profile.name, profile.bind_user)
    profiles.profile_path(profile.name).unlink(missing_ok=True)


def use_lab_hosts(lab_dir: Path, monkeypatch: pytest.MonkeyPatch,
                  authority: DelegationAuthority | None = None) -> None:
    """The test seam for ``--profile``: there are no Hyper-V hosts, so the WinRM gateway module is replaced
    by one whose ``PsrpHostGateway.from_profile`` returns the lab's hosts in ``lab_dir`` (their directory,
    for ticket purges and moves, is the DC again, through the same profile; moves are started as the profile's
    WinRM user). ``authority`` decides each delegation a Move-VM needs (default: the lab's view of the source's
    cached tickets)."""
    class LabAsPsrp:
        @staticmethod
        def from_profile(profile: Profile, password: str | None) -> LabHostGateway:
            bind = credentials.get_password(profile.name, profile.bind_user) or password  # the DC again
            directory = connect(profile, bind)
            return LabHostGateway(LabStore(lab_dir), directory, authority, step_delay=0, operator=profile.winrm_username)

    module = types.ModuleType("lmdoctor.services.backends.hosts.psrp")
    module.PsrpHostGateway = LabAsPsrp  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lmdoctor.services.backends.hosts.psrp", module)


class KdcAuthority:
    """The lab hosts' Move-VM decision taken by the Samba KDC: S4U2Self + S4U2Proxy with the source's keytab
    for every SPN the KDC can ticket (cifs/…). SPNs with spaces (Microsoft Virtual System Migration
    Service/…) cannot be ticketed by Samba, so those fall back to the lab's ticket view, read over LDAP."""

    def __init__(self, dc: SambaDC, keytabs: Path) -> None:
        self.dc, self.keytabs = dc, keytabs
        self.ldap_view = TicketViewAuthority()
        self.asked: list[tuple[str, bool, str]] = []

    def allows(self, source: str, tickets: TicketView, target_spn: str) -> tuple[bool, str]:
        if " " in target_spn:
            return self.ldap_view.allows(source, tickets, target_spn)
        keytab = self.keytabs / f"{source}.keytab"
        if not keytab.exists():
            self.dc.export_keytab(f"{source}$", keytab)
        granted, detail = self.dc.s4u_proxy(keytab, f"{source}$", "Administrator", target_spn)
        self.asked.append((target_spn, granted, detail))
        return granted, detail


# --- a Domain Admin and four nodes, for the flows that sign in as an operator -------------------------
NODES = ("HV01", "HV02", "HV03", "HV04")
UPN = "lmdops@contoso.local"


def populate(dc: SambaDC, password: str) -> None:
    """A Domain Admin with `password`, and four nodes with full delegation except HV01 → HV02."""
    dn = f"CN=lmdops,CN=Users,{BASE_DN}"
    conn = dc.ldap()
    try:
        conn.add(dn, ["top", "person", "organizationalPerson", "user"], {
            "sAMAccountName": "lmdops", "userPrincipalName": UPN, "userAccountControl": 512,
            "unicodePwd": f'"{password}"'.encode("utf-16-le")})
        conn.modify(f"CN=Domain Admins,CN=Users,{BASE_DN}", {"member": [(MODIFY_ADD, [dn])]})
    finally:
        conn.unbind()
    for node in NODES:
        targets = [t for other in NODES if other != node and (node, other) != ("HV01", "HV02")
                   for t in delegation_targets(other, f"{other}.contoso.local")]
        dc.add_computer(node, required_host_spns(node, f"{node}.contoso.local"), 0x1001000, delegate_to=targets)


# --- healthy clusters of any size (C<n>N01…), for round-trip counts and the triage benchmark ----------
def node_names(n: int) -> list[str]:
    return [f"C{n}N{i:02d}" for i in range(1, n + 1)]


def address(n: int, i: int) -> str:
    return f"10.{n}.0.{i}"


def create_clusters(dc: SambaDC, sizes: tuple[int, ...]) -> float:
    """Healthy clusters (full mesh) of these sizes and their dynamic A records, over one LDAPS connection;
    plus the prototype object bulk_load copies."""
    started = time.monotonic()
    stamp = datetime.now(timezone.utc)
    conn = dc.ldap()
    try:
        for n in sizes:
            names = node_names(n)
            for i, name in enumerate(names, start=1):
                conn.add(f"CN={name},{COMPUTERS_DN}", COMPUTER_CLASSES, node_attributes(name, names))
                conn.add(f"DC={name},{DNS_ZONE_DN}", ["top", "dnsNode"],
                         {"dnsRecord": [dnsrecord.build_a(address(n, i), stamp)]})
        conn.add(f"CN=PROTO,{COMPUTERS_DN}", COMPUTER_CLASSES, {"sAMAccountName": "PROTO$", "userAccountControl": 4096})
    finally:
        conn.unbind()
    return time.monotonic() - started


def lab_hosts(n: int, root: Path) -> LabStore:
    """A lab directory with cluster C<n>'s hosts: Kerberos, migration on, tickets issued now."""
    now = datetime.now(timezone.utc)
    settings = VMHostSettings(migration_enabled=True, auth_type=AuthType.KERBEROS)
    hosts = {name: LabHost(name=name, settings=settings, vms=[VirtualMachine(name=f"VM{name}", host=name)],
                           addresses=[address(n, i)], tickets=TicketView(issued=now, allowed_to_delegate_to=[], uac=0))
             for i, name in enumerate(node_names(n), start=1)}
    store = LabStore(root / f"c{n}")
    store.root.mkdir(parents=True, exist_ok=True)
    store.save_hosts(LabHosts(cluster=f"C{n}", domain=scenarios.DOMAIN, hosts=hosts))
    return store


class MemoryHosts:
    """Host reports read once, served from memory: isolates the directory part of the inventory."""

    def __init__(self, gateway: LabHostGateway) -> None:
        self.nodes = gateway.cluster_nodes()
        self.reports = {n.name: gateway.host_report(n.name) for n in self.nodes}

    def cluster_nodes(self) -> list[ClusterNode]:
        return self.nodes

    def host_report(self, host: str) -> HostReport:
        return self.reports[host]

    def close(self) -> None:
        pass
