"""Lab scenarios: contoso.local with a four-node Hyper-V cluster, healthy or with one fault."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from winacl.dtyp.sid import SID

from lmdoctor.services.backends.directory import dnsrecord
from lmdoctor.services.backends.lab.state import Entries, LabHost, LabHosts, TicketView
from lmdoctor.services.domain import rbcd, replmeta
from lmdoctor.services.domain.models import (
    UAC_SERVER_TRUST_ACCOUNT,
    UAC_TRUSTED_FOR_DELEGATION,
    UAC_TRUSTED_TO_AUTH_FOR_DELEGATION,
    UAC_WORKSTATION_TRUST_ACCOUNT,
    VSMS,
    AuthType,
    HostEvent,
    PerformanceOption,
    VirtualMachine,
    VMHostSettings,
)
from lmdoctor.services.domain.spn import delegation_targets, required_host_spns

DOMAIN = "contoso.local"
BASE_DN = "DC=contoso,DC=local"
COMPUTERS = f"CN=Computers,{BASE_DN}"
ZONE_DN = f"DC={DOMAIN},CN=MicrosoftDNS,DC=DomainDnsZones,{BASE_DN}"
CLUSTER = "HVCLUSTER"
NODES = ("HV01", "HV02", "HV03", "HV04")
ADDRESSES = {n: f"10.0.10.{11 + i}" for i, n in enumerate(NODES)}
VMS = {"HV01": ("APP01", "APP02"), "HV02": ("SQL01",), "HV03": ("WEB01", "WEB02"), "HV04": ("FS01",)}
GIB = 1 << 30
PROCESSOR = "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz"
SUPPORTED_VERSIONS = ("8.0", "9.0", "9.1", "10.0")  # Windows Server 2019 (Get-VMHostSupportedVersion)
VM_MEMORY = {"APP01": 8, "APP02": 4, "SQL01": 16, "WEB01": 4, "WEB02": 4, "FS01": 8}  # GiB
ADMIN_DN = f"CN=Administrator,CN=Users,{BASE_DN}"
ADMIN_USER = "Administrator@contoso.local"
RBCD = "msDS-AllowedToActOnBehalfOfOtherIdentity"
DOMAIN_SID = "S-1-5-21-3623811015-3361044348-30300820"
T0_ADMIN = "t0.admin@contoso.local"  # the tier-0 admin of the protected-operator scenario
PROTECTED_USERS_DN = f"CN=Protected Users,CN=Users,{BASE_DN}"
UF_NORMAL_ACCOUNT = 0x200
ENCTYPES_WINDOWS_DEFAULT = 0x1C  # what a Windows Server host writes on its own account: RC4 + AES128 + AES256
LAB_PASSWORD = "lab"  # the mock DIT's bind password; the lab holds no real secret


def fqdn(name: str) -> str:
    return f"{name}.{DOMAIN}"


def sid_bytes(sid: str) -> bytes:
    """S-1-5-21-…-RID as the binary SID AD stores (MS-DTYP 2.4.2.2)."""
    _s, revision, authority, *subs = sid.split("-")
    return (bytes([int(revision), len(subs)]) + int(authority).to_bytes(6, "big")
            + b"".join(int(x).to_bytes(4, "little") for x in subs))


def generalized(when: datetime) -> str:
    return when.strftime("%Y%m%d%H%M%S.0Z")


@dataclass
class Lab:
    """A scenario under construction: directory entries and hosts, edited by fault functions."""

    now: datetime
    entries: Entries
    hosts: LabHosts

    def computer(self, name: str) -> dict:
        return self.entries[f"CN={name},{COMPUTERS}"]

    def host(self, name: str) -> LabHost:
        return self.hosts.hosts[name]

    def event(self, host: str, event_id: int, message: str, log: str = "Microsoft-Windows-Hyper-V-VMMS-Admin",
              level: str = "Error", ago: timedelta = timedelta(hours=1)) -> None:
        self.host(host).events.insert(0, HostEvent(time=self.now - ago, event_id=event_id, level=level, log=log, message=message))

    def stamp(self, name: str, attribute: str, when: datetime) -> None:
        """Record in the replication metadata that `attribute` of `name` last changed at `when`."""
        c = self.computer(name)
        c["whenChanged"] = [generalized(max(when, _when_changed(c)))]
        c[replmeta.XML_ATTRIBUTE] = restamp(c.get(replmeta.XML_ATTRIBUTE, []), attribute, when)

    def refresh_tickets(self, name: str, issued: datetime) -> None:
        c = self.computer(name)
        self.host(name).tickets = TicketView(
            issued=issued, allowed_to_delegate_to=list(c.get("msDS-AllowedToDelegateTo", [])),
            uac=int(c["userAccountControl"][0]))


def _when_changed(entry: dict) -> datetime:
    return datetime.strptime(str(entry["whenChanged"][0])[:14], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)


def restamp(values: list, attribute: str, when: datetime) -> list[str]:
    """msDS-ReplAttributeMetaData values with `attribute`'s entry replaced by one changed at `when`."""
    tag = f"<pszAttributeName>{attribute}</pszAttributeName>".lower()
    kept = [v.decode() if isinstance(v, bytes) else str(v) for v in values]
    return [v for v in kept if tag not in v.lower()] + [replmeta.to_xml(attribute, when)]


DOMAIN_SID = "S-1-5-21-2718281828-3141592653-1618033988"
COMPUTER_RIDS = {"DC01": 1000, CLUSTER: 1104, **{n: 1105 + i for i, n in enumerate(NODES)}, "HV02-OLD": 1150, "OLD": 1151}


def sid_of(name: str) -> str:
    """The lab's objectSid of a computer (workstations WS001… get 1201…)."""
    rid = COMPUTER_RIDS.get(name) or 1200 + int(name[2:])
    return f"{DOMAIN_SID}-{rid}"


def _computer(name: str, uac: int, spns: list[str], delegate: list[str], changed: datetime) -> dict:
    entry = {
        "objectClass": ["top", "person", "organizationalPerson", "user", "computer"],
        "cn": [name], "sAMAccountName": [f"{name}$"], "dNSHostName": [fqdn(name)],
        "userAccountControl": [str(uac)], "servicePrincipalName": spns,
        "whenChanged": [generalized(changed)], "objectSid": [SID.from_string(sid_of(name)).to_bytes()],
        "msDS-SupportedEncryptionTypes": [str(ENCTYPES_WINDOWS_DEFAULT)],
    }
    if delegate:
        entry["msDS-AllowedToDelegateTo"] = delegate
    entry[replmeta.XML_ATTRIBUTE] = [replmeta.to_xml(a, changed) for a in replmeta.DELEGATION_ATTRIBUTES if a in entry]
    return entry


def _filetime(when: datetime) -> str:
    return str(int((when - replmeta.EPOCH_1601).total_seconds() * 10_000_000))


def logon_bookkeeping(lab: Lab, name: str, when: datetime) -> None:
    """What a logon or the machine password change writes: lastLogonTimestamp / pwdLastSet and whenChanged,
    never a delegation attribute (so a later whenChanged alone must not count as a delegation change)."""
    c = lab.computer(name)
    c["lastLogonTimestamp"] = [_filetime(when)]
    c["whenChanged"] = [generalized(when)]
    c[replmeta.XML_ATTRIBUTE] = restamp(c.get(replmeta.XML_ATTRIBUTE, []), "lastLogonTimestamp", when)


def healthy(now: datetime) -> Lab:
    month_ago = now - timedelta(days=30)
    entries: Entries = {
        ADMIN_DN: {"objectClass": ["top", "person", "organizationalPerson", "user"], "cn": ["Administrator"],
                   "sAMAccountName": ["Administrator"], "userPassword": [LAB_PASSWORD],
                   "userPrincipalName": [ADMIN_USER], "userAccountControl": [str(UF_NORMAL_ACCOUNT)],
                   "objectSid": [sid_bytes(f"{DOMAIN_SID}-500")]},
        PROTECTED_USERS_DN: {"objectClass": ["top", "group"], "cn": ["Protected Users"],
                             "sAMAccountName": ["Protected Users"], "objectSid": [sid_bytes(f"{DOMAIN_SID}-525")]},
        f"CN=DC01,OU=Domain Controllers,{BASE_DN}": _computer(
            "DC01", UAC_SERVER_TRUST_ACCOUNT | UAC_TRUSTED_FOR_DELEGATION,
            ["ldap/DC01.contoso.local", "HOST/DC01", "HOST/DC01.contoso.local"], [], month_ago),
        f"CN={CLUSTER},{COMPUTERS}": _computer(
            CLUSTER, UAC_WORKSTATION_TRUST_ACCOUNT,
            [f"HOST/{CLUSTER}", f"HOST/{fqdn(CLUSTER)}", f"MSClusterVirtualServer/{CLUSTER}"], [], month_ago),
    }
    for i in range(1, 7):  # unrelated workstations with SPNs of their own
        ws = f"WS{i:03d}"
        entries[f"CN={ws},{COMPUTERS}"] = _computer(ws, UAC_WORKSTATION_TRUST_ACCOUNT,
                                                    [f"HOST/{ws}", f"HOST/{fqdn(ws)}"], [], month_ago)
    for node in NODES:
        delegate = [s for peer in NODES if peer != node for s in delegation_targets(peer, fqdn(peer))]
        entries[f"CN={node},{COMPUTERS}"] = _computer(
            node, UAC_WORKSTATION_TRUST_ACCOUNT | UAC_TRUSTED_TO_AUTH_FOR_DELEGATION,
            list(required_host_spns(node, fqdn(node))), delegate, month_ago)
        entries[f"DC={node},{ZONE_DN}"] = {
            "objectClass": ["top", "dnsNode"], "dc": [node],
            "dnsRecord": [dnsrecord.build_a(ADDRESSES[node], now - timedelta(hours=3))],
        }
    hosts = LabHosts(cluster=CLUSTER, domain=DOMAIN, hosts={
        node: LabHost(
            name=node,
            settings=VMHostSettings(migration_enabled=True, auth_type=AuthType.KERBEROS,
                                    performance_option=PerformanceOption.COMPRESSION, max_migrations=2,
                                    use_any_network=False, migration_networks=("10.0.20.0/24",)),
            vms=[VirtualMachine(name=vm, host=node, memory_assigned=VM_MEMORY[vm] * GIB,
                                memory_startup=VM_MEMORY[vm] * GIB, version="9.0", clustered=vm != "APP02")
                 for vm in VMS[node]],
            addresses=[ADDRESSES[node], f"10.0.20.{11 + i}"],
            tickets=TicketView(issued=now, allowed_to_delegate_to=[], uac=0),
            memory_free=48 * GIB, processor=PROCESSOR, supported_versions=list(SUPPORTED_VERSIONS),
        )
        for i, node in enumerate(NODES)
    })
    lab = Lab(now=now, entries=entries, hosts=hosts)
    for node in NODES:
        lab.refresh_tickets(node, now - timedelta(hours=2))
        logon_bookkeeping(lab, node, now - timedelta(minutes=20))  # after the tickets: no delegation change
        lab.event(node, 20417, "Virtual machine migration completed successfully.", level="Information",
                  ago=timedelta(days=3))
    return lab


FAILED_AUTH = ("Virtual machine migration operation for 'APP01' failed at migration source 'HV01'. "
               "(Virtual machine ID 4C1A7F0E-2D3B-4E8A-9F6C-1B2D3E4F5A6B)\n"
               "Failed to establish a connection with host 'HV02': No credentials are available in the "
               "security package (0x8009030E).")


def seed(now: datetime) -> Lab:
    """HV01 cannot delegate to HV02; the values were put on HV02's own object instead."""
    lab = healthy(now)
    hv01, hv02 = lab.computer("HV01"), lab.computer("HV02")
    wanted = set(delegation_targets("HV02", fqdn("HV02")))
    hv01["msDS-AllowedToDelegateTo"] = [v for v in hv01["msDS-AllowedToDelegateTo"] if v not in wanted]
    hv02["msDS-AllowedToDelegateTo"] = hv02["msDS-AllowedToDelegateTo"] + sorted(wanted)
    for node in ("HV01", "HV02"):
        lab.refresh_tickets(node, now - timedelta(hours=2))
    lab.event("HV01", 20306, "The Virtual Machine Management Service failed to authenticate the connection for a "
              "Virtual Machine migration at the source host: no suitable credentials available (0x8009030E).",
              ago=timedelta(minutes=42))
    lab.event("HV01", 21024, FAILED_AUTH, ago=timedelta(minutes=42))
    lab.event("HV01", 21502, "Live migration of 'Virtual Machine APP01' failed. " + FAILED_AUTH,
              log="Microsoft-Windows-Hyper-V-High-Availability-Admin", ago=timedelta(minutes=41))
    return lab


def kerberos_only(now: datetime) -> Lab:
    """Delegation is right but 'Kerberos only': no protocol transition for remote moves."""
    lab = healthy(now)
    for node in NODES:
        lab.computer(node)["userAccountControl"] = [str(UAC_WORKSTATION_TRUST_ACCOUNT)]
        lab.refresh_tickets(node, now - timedelta(hours=2))
    lab.event("HV01", 20306, "The Virtual Machine Management Service failed to authenticate the connection for a "
              "Virtual Machine migration at the source host: no suitable credentials available (0x8009030E).")
    return lab


def duplicate_spn(now: datetime) -> Lab:
    """A stale object of a rebuilt host still holds HV02's HOST SPNs."""
    lab = healthy(now)
    lab.entries[f"CN=HV02-OLD,{COMPUTERS}"] = _computer(
        "HV02-OLD", UAC_WORKSTATION_TRUST_ACCOUNT, ["HOST/HV02", f"HOST/{fqdn('HV02')}"], [], now - timedelta(days=400))
    lab.event("HV01", 21024, "Virtual machine migration operation for 'APP01' failed at migration source 'HV01'.\n"
              "The target principal name is incorrect. (0x80090322).")
    return lab


def stale_dns(now: datetime) -> Lab:
    """HV02's name still resolves to HV03's address through a 40-day-old dynamic record."""
    lab = healthy(now)
    zone = lab.entries[f"DC=HV02,{ZONE_DN}"]
    zone["dnsRecord"] = zone["dnsRecord"] + [dnsrecord.build_a(ADDRESSES["HV03"], now - timedelta(days=40))]
    lab.event("HV01", 21024, "Virtual machine migration operation for 'APP01' failed at migration source 'HV01'.\n"
              "The target principal name is incorrect. (0x80090322).")
    return lab


def auth_mismatch(now: datetime) -> Lab:
    """HV02 was left on CredSSP after a maintenance window; the others use Kerberos."""
    lab = healthy(now)
    lab.host("HV02").settings = lab.host("HV02").settings.model_copy(update={"auth_type": AuthType.CREDSSP})
    lab.event("HV01", 21024, "Virtual machine migration operation for 'APP01' failed at migration source 'HV01'.\n"
              "The credentials supplied to the package were not recognized (0x8009030D).")
    return lab


def migration_disabled(now: datetime) -> Lab:
    lab = healthy(now)
    lab.host("HV02").settings = lab.host("HV02").settings.model_copy(update={"migration_enabled": False})
    return lab


def stale_tickets(now: datetime) -> Lab:
    """Delegation was fixed an hour ago, but HV01's SYSTEM tickets predate the change."""
    lab = seed(now)
    hv01 = lab.computer("HV01")
    hv01["msDS-AllowedToDelegateTo"] = hv01["msDS-AllowedToDelegateTo"] + list(delegation_targets("HV02", fqdn("HV02")))
    hv02 = lab.computer("HV02")
    hv02["msDS-AllowedToDelegateTo"] = [v for v in hv02["msDS-AllowedToDelegateTo"] if "HV02" not in v.upper()]
    for node in ("HV01", "HV02"):
        lab.stamp(node, "msDS-AllowedToDelegateTo", now - timedelta(hours=1))
    return lab


def unconstrained(now: datetime) -> Lab:
    """HV03 is trusted for unconstrained delegation (a risk, blocked by Credential Guard)."""
    lab = healthy(now)
    c = lab.computer("HV03")
    c["userAccountControl"] = [str(int(c["userAccountControl"][0]) | UAC_TRUSTED_FOR_DELEGATION)]
    lab.refresh_tickets("HV03", now - timedelta(hours=2))
    return lab


def cno_delegation(now: datetime) -> Lab:
    """Delegation was set on the cluster name object (12 values) while HV01 lacks HV02's."""
    lab = seed(now)
    hv02 = lab.computer("HV02")
    hv02["msDS-AllowedToDelegateTo"] = [v for v in hv02["msDS-AllowedToDelegateTo"] if "HV02" not in v.upper()]
    lab.computer(CLUSTER)["msDS-AllowedToDelegateTo"] = [
        s for peer in NODES[1:] for s in delegation_targets(peer, fqdn(peer))]
    return lab


def fqdn_only(now: datetime) -> Lab:
    """HV01 may delegate to HV02's FQDN SPNs only: a move addressed as HV02 fails, as HV02.contoso.local works."""
    lab = healthy(now)
    hv01 = lab.computer("HV01")
    hv01["msDS-AllowedToDelegateTo"] = [v for v in hv01["msDS-AllowedToDelegateTo"] if not v.upper().endswith("/HV02")]
    lab.refresh_tickets("HV01", now - timedelta(hours=2))
    lab.event("HV01", 21024, FAILED_AUTH, ago=timedelta(minutes=20))
    return lab


def rbcd_coverage(now: datetime) -> Lab:
    """HV01 holds no constrained delegation to HV02, but HV02's RBCD descriptor grants HV01: moves work."""
    lab = healthy(now)
    hv01 = lab.computer("HV01")
    wanted = set(delegation_targets("HV02", fqdn("HV02")))
    hv01["msDS-AllowedToDelegateTo"] = [v for v in hv01["msDS-AllowedToDelegateTo"] if v not in wanted]
    lab.computer("HV02")[RBCD] = [rbcd.descriptor([sid_of("HV01")])]
    lab.refresh_tickets("HV01", now - timedelta(hours=2))
    return lab


NEAR_MISSES = ("cifs/HV02.contoso.local.", "cifs/", f"{VSMS}/HV2")


def near_miss(now: datetime) -> Lab:
    """HV01's values for HV02 are near misses (a trailing dot, no host, a typo): they cover nothing."""
    lab = healthy(now)
    hv01 = lab.computer("HV01")
    wanted = set(delegation_targets("HV02", fqdn("HV02"))) - {f"{VSMS}/{fqdn('HV02')}"}
    hv01["msDS-AllowedToDelegateTo"] = [v for v in hv01["msDS-AllowedToDelegateTo"] if v not in wanted] + list(NEAR_MISSES)
    lab.refresh_tickets("HV01", now - timedelta(hours=2))
    lab.event("HV01", 21024, FAILED_AUTH, ago=timedelta(minutes=15))
    return lab


def drain_no_headroom(now: datetime) -> Lab:
    """HV01's VMs fit nowhere: the other nodes have 6 GiB free each, APP01 needs 8 GiB."""
    lab = healthy(now)
    for node in NODES[1:]:
        lab.host(node).memory_free = 6 * GIB
    return lab


def drain_cpu(now: datetime) -> Lab:
    """HV01 was replaced by a newer processor generation; APP01 runs without processor compatibility mode."""
    lab = healthy(now)
    lab.host("HV01").processor = "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz"
    lab.host("HV01").vms = [v.model_copy(update={"processor_compatibility": v.name != "APP01"})
                            for v in lab.host("HV01").vms]
    return lab


def drain_migration_disabled(now: datetime) -> Lab:
    """Live migration was left disabled on every node but HV01 after a maintenance window."""
    lab = healthy(now)
    for node in NODES[1:]:
        lab.host(node).settings = lab.host(node).settings.model_copy(update={"migration_enabled": False})
    return lab


def drain_switch(now: datetime) -> Lab:
    """APP01's network adapter is on the switch 'Production', which only HV01 has: Compare-VM reports 33012."""
    lab = healthy(now)
    lab.host("HV01").switches = ["LAN", "Production"]
    lab.host("HV01").vm_switches = {"APP01": ["Production"]}
    return lab


def drain_delegation(now: datetime) -> Lab:
    """HV01 may delegate to none of its peers: none of its VMs can be moved away by a remotely started move."""
    lab = healthy(now)
    lab.computer("HV01").pop("msDS-AllowedToDelegateTo")
    lab.refresh_tickets("HV01", now - timedelta(hours=2))
    return lab


def protected_operator(now: datetime) -> Lab:
    """Moves are started as t0.admin, in Protected Users through a tier-0 group: none started remotely works."""
    lab = healthy(now)
    user, tier0 = f"CN=t0.admin,CN=Users,{BASE_DN}", f"CN=Tier0 Admins,CN=Users,{BASE_DN}"
    lab.entries[user] = {"objectClass": ["top", "person", "organizationalPerson", "user"], "cn": ["t0.admin"],
                         "sAMAccountName": ["t0.admin"], "userPrincipalName": [T0_ADMIN],
                         "userAccountControl": [str(UF_NORMAL_ACCOUNT)], "objectSid": [sid_bytes(f"{DOMAIN_SID}-1106")]}
    lab.entries[tier0] = {"objectClass": ["top", "group"], "cn": ["Tier0 Admins"], "sAMAccountName": ["Tier0 Admins"],
                          "objectSid": [sid_bytes(f"{DOMAIN_SID}-1105")], "member": [user]}
    lab.entries[PROTECTED_USERS_DN]["member"] = [tier0]
    lab.hosts.operator = T0_ADMIN
    lab.event("HV01", 20306, "The Virtual Machine Management Service failed to authenticate the connection for a "
              "Virtual Machine migration at the source host: no suitable credentials available (0x8009030E).",
              ago=timedelta(minutes=20))
    return lab


def clock_skew(now: datetime) -> Lab:
    """HV02's clock runs 7½ minutes ahead of the domain controller's: every Kerberos exchange with it fails."""
    lab = healthy(now)
    lab.host("HV02").clock_offset_s = 450.0
    lab.event("HV01", 21024, "Virtual machine migration operation for 'APP01' failed at migration source 'HV01'.\n"
              "Failed to establish a connection with host 'HV02': The clocks on the client and server machines are "
              "skewed. (0x80090324).", ago=timedelta(minutes=15))
    return lab


def rc4_only(now: datetime) -> Lab:
    """HV02's account allows RC4 only (msDS-SupportedEncryptionTypes 0x4): no AES after the 2026 hardening."""
    lab = healthy(now)
    lab.computer("HV02")["msDS-SupportedEncryptionTypes"] = ["4"]
    return lab


def smb_storage(now: datetime) -> Lab:
    r"""APP01's configuration and disk live on \\FS01\VMs; no node may delegate to FS01's cifs."""
    lab = healthy(now)
    lab.entries[f"CN=FS01,{COMPUTERS}"] = _computer("FS01", UAC_WORKSTATION_TRUST_ACCOUNT,
                                                    ["HOST/FS01", f"HOST/{fqdn('FS01')}"], [], now - timedelta(days=30))
    app01 = next(vm for vm in lab.host("HV01").vms if vm.name == "APP01")
    lab.host("HV01").vms = [vm.model_copy(update={"paths": ("\\\\FS01\\VMs\\APP01",
                                                               "\\\\FS01\\VMs\\APP01\\APP01.vhdx")})
                            if vm is app01 else vm for vm in lab.host("HV01").vms]
    return lab


# Hostile values: what anyone with write access to a computer object, a VM operator or an event source can
# plant. Each must be shown as text, never styled, clicked, linked or sent to the terminal (docs/safety.md).
CLIPBOARD_TEXT = "iex(planted-clipboard)"  # what an OSC 52 write would put on the operator's clipboard
OSC52 = "\x1b]52;c;" + base64.b64encode(CLIPBOARD_TEXT.encode()).decode() + "\x07"
OSC8 = "\x1b]8;;file:///etc/passwd\x1b\\planted-link\x1b]8;;\x1b\\"
CLEAR = "\x1b[2JWIPED"  # erase the screen, then a marker
C1_CSI = "\x9b2J"
MARKUP = "[bold red]styled[/]"
CLICK = "[@click=app.quit]click-me[/]"
LINK = '[link="file:///etc/passwd"]passwd[/]'
UNBALANCED = "backup[/]"
BRACKETS = "SQL [prod]"
HOSTILE_VMS = (UNBALANCED, BRACKETS, CLICK, LINK, MARKUP, "clip" + OSC52, "wipe" + CLEAR, "link" + OSC8)
HOSTILE_HOLDER = "OLD[/]" + OSC52 + C1_CSI  # sAMAccountName (without $) of a stale object holding HV03's HOST SPNs
HOSTILE_NODE = "[BOLD]HV05[/]"  # a cluster node's name lmdoctor cannot use: shown in a host.bad_value finding
HOSTILE_STRAYS = tuple(f"cifs/HV02/{v}" for v in (MARKUP, CLICK, LINK, UNBALANCED))  # misplaced on HV02's object


def hostile(now: datetime) -> Lab:
    """The seed fault, with markup, click actions, links, unbalanced tags and OSC 52/8 and CSI sequences in every
    value a screen or an output shows."""
    lab = seed(now)
    hv01 = lab.computer("HV01")
    hv01["msDS-AllowedToDelegateTo"] = hv01["msDS-AllowedToDelegateTo"] + [
        f"cifs/{MARKUP}", f"cifs/{CLICK}", f"cifs/{LINK}", f"cifs/{UNBALANCED}", "cifs/clip" + OSC52,
        "cifs/link" + OSC8, "cifs/wipe" + CLEAR, "cifs/c1" + C1_CSI]
    hv02 = lab.computer("HV02")
    hv02["msDS-AllowedToDelegateTo"] = hv02["msDS-AllowedToDelegateTo"] + list(HOSTILE_STRAYS)
    lab.host("HV01").vms += [VirtualMachine(name=name, host="HV01", state=state) for name, state in zip(
        HOSTILE_VMS, ("Off", "Running" + OSC52, MARKUP, "Saved" + CLEAR, UNBALANCED, CLICK, LINK, "Off" + OSC8), strict=True)]
    lab.host("HV03").cluster_state = "Up " + MARKUP + OSC52
    lab.host("HV04").cluster_state = "Paused" + CLEAR + UNBALANCED
    lab.entries[f"CN=OLD,{COMPUTERS}"] = _computer(
        "OLD", UAC_WORKSTATION_TRUST_ACCOUNT, ["HOST/HV03", f"HOST/{fqdn('HV03')}"], [], now - timedelta(days=400))
    lab.entries[f"CN=OLD,{COMPUTERS}"]["sAMAccountName"] = [HOSTILE_HOLDER + "$"]
    lab.event("HV01", 21024, f"Migration of '{CLICK}' failed {MARKUP} {LINK} {UNBALANCED}" + OSC52 + OSC8 + CLEAR
              + "\nsecond line " + C1_CSI, log="Planted-Log " + MARKUP + OSC52, level="Error" + OSC8 + UNBALANCED,
              ago=timedelta(minutes=30))
    lab.event("HV02", 20417, "ok " + CLEAR, level=CLICK, log=LINK, ago=timedelta(minutes=20))
    lab.hosts.hosts[HOSTILE_NODE] = lab.host("HV04").model_copy(update={
        "name": HOSTILE_NODE, "reachable": False, "vms": [], "events": [], "addresses": ["10.0.10.15"]})
    return lab


SCENARIOS: dict[str, tuple[Callable[[datetime], Lab], str]] = {
    "seed": (seed, "HV01 lacks delegation to HV02's cifs and VSMS; the values sit on HV02's own object"),
    "healthy": (healthy, "Every node may delegate to every other node, with protocol transition"),
    "kerberos-only": (kerberos_only, "Delegation present but Kerberos-only: remote Move-VM fails on 2016+"),
    "duplicate-spn": (duplicate_spn, "HV02-OLD still holds HOST/HV02 and HOST/HV02.contoso.local"),
    "stale-dns": (stale_dns, "HV02 resolves to HV03's address through a stale dynamic A record"),
    "auth-mismatch": (auth_mismatch, "HV02 uses CredSSP, the other nodes Kerberos"),
    "migration-disabled": (migration_disabled, "Live migration is disabled on HV02"),
    "stale-tickets": (stale_tickets, "Delegation fixed in AD, but HV01's SYSTEM tickets predate the change"),
    "unconstrained": (unconstrained, "HV03 is trusted for unconstrained delegation"),
    "fqdn-only": (fqdn_only, "HV01 may delegate to HV02's FQDN SPNs only: a move addressed as HV02 fails"),
    "rbcd": (rbcd_coverage, "HV01 lacks constrained delegation to HV02; HV02's RBCD descriptor grants HV01"),
    "near-miss": (near_miss, "HV01's values for HV02 are near misses: a trailing dot, 'cifs/', a typo"),
    "cno-delegation": (cno_delegation, "HV01 lacks HV02's values; 12 values sit on the cluster name object HVCLUSTER$"),
    "protected-operator": (protected_operator, "Moves are started as t0.admin, in Protected Users (nested): it cannot be delegated"),
    "clock-skew": (clock_skew, "HV02's clock is 7½ minutes ahead of the domain controller's"),
    "rc4-only": (rc4_only, "HV02's account allows RC4 only: no AES Kerberos tickets"),
    "smb-storage": (smb_storage, "APP01 lives on \\\\FS01\\VMs; no node may delegate to cifs/FS01"),
    "drain-no-headroom": (drain_no_headroom, "HV01 cannot be drained: 6 GiB free on the other nodes, APP01 needs 8"),
    "drain-cpu": (drain_cpu, "HV01 has a newer CPU; APP01 runs without processor compatibility mode"),
    "drain-migration-disabled": (drain_migration_disabled, "Live migration is disabled on HV02, HV03 and HV04"),
    "drain-switch": (drain_switch, "APP01 is on the switch 'Production', which only HV01 has (Compare-VM 33012)"),
    "drain-delegation": (drain_delegation, "HV01 may delegate to none of its peers: its VMs cannot be moved away"),
    "hostile": (hostile, "The seed fault, with markup and terminal escape sequences planted in directory, host and "
                         "event values"),
}


def build(name: str, now: datetime | None = None) -> Lab:
    if name not in SCENARIOS:
        raise KeyError(f"unknown scenario {name!r}; choose one of: {', '.join(SCENARIOS)}")
    return SCENARIOS[name][0](now or datetime.now(timezone.utc))
