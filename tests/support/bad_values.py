"""Every class of unusable directory and cluster value, planted into a lab (tests/test_bad_values.py proves
each is set aside and reported; the console suite plants the same values)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lmdoctor.services.backends.lab.scenarios import COMPUTERS, ZONE_DN
from lmdoctor.services.backends.lab.state import Entries, LabHosts, LabStore

ESC_CLEAR = "\x1b[2J"


def computer(entries: Entries, name: str) -> dict:
    return entries[f"CN={name},{COMPUTERS}"]


def extra_node(hosts: LabHosts, name: str) -> None:
    """The cluster reports one more node, named `name` (a copy of HV04's host)."""
    hosts.hosts[name] = hosts.hosts["HV04"].model_copy(update={"name": name})


# case -> (plant into the lab's directory entries and hosts, finding id, how the raw value is shown)
Plant = Callable[[Entries, LabHosts], None]
CASES: dict[str, tuple[Plant, str, str]] = {
    "spn-not-utf8": (lambda e, h: computer(e, "HV03")["servicePrincipalName"].append(b"HOST/HV\xff03"),
                     "directory.bad_value:HV03:-", "servicePrincipalName = HOST/HV\\xff03: not UTF-8 text"),
    "delegation-not-utf8": (lambda e, h: computer(e, "HV03")["msDS-AllowedToDelegateTo"].append(
                                b"cifs/HV\xfe01" + ESC_CLEAR.encode()),
                            "directory.bad_value:HV03:-", "msDS-AllowedToDelegateTo = cifs/HV\\xfe01␛[2J: not UTF-8"),
    "dnshostname-not-utf8": (lambda e, h: computer(e, "HV03").update(dNSHostName=[b"hv03\xff.contoso.local"]),
                             "directory.bad_value:HV03:-", "dNSHostName = hv03\\xff.contoso.local: not UTF-8 text"),
    "dnshostname-port": (lambda e, h: computer(e, "HV03").update(dNSHostName=["hv03.contoso.local:5985"]),
                         "directory.bad_value:HV03:-", "dNSHostName = hv03.contoso.local:5985: not a DNS host name"),
    "dnsrecord-malformed": (lambda e, h: e[f"DC=HV03,{ZONE_DN}"]["dnsRecord"].append(b"\x01\x02garbage"),
                            "directory.bad_value:HV03:-", "dnsRecord = 0x010267617262616765: dnsRecord of 'HV03' is 9"),
    "rbcd-malformed": (lambda e, h: computer(e, "HV03").update(
                           {"msDS-AllowedToActOnBehalfOfOtherIdentity": [b"\x01\x00\x04\x80garbage"]}),
                       "directory.bad_value:HV03:-",
                       "msDS-AllowedToActOnBehalfOfOtherIdentity = 0x0100048067617262616765: unreadable security"),
    "uac-missing": (lambda e, h: computer(e, "HV03").pop("userAccountControl"),
                    "directory.bad_value:HV03:-", "userAccountControl = (no value): missing"),
    "node-name-nul": (lambda e, h: extra_node(h, "HV\x0005"), "host.bad_value:HV␀05:-",
                      "Name (Get-ClusterNode) = HV␀05: not a computer name"),
    "node-name-colon": (lambda e, h: extra_node(h, "HV:05"), "host.bad_value:HV:05:-",
                        "Name (Get-ClusterNode) = HV:05: not a computer name"),
    "node-name-2000": (lambda e, h: extra_node(h, "H" * 2000), f"host.bad_value:{'H' * 40}… (2000 characters):-",
                       f"Name (Get-ClusterNode) = {'H' * 120}… (2000 characters): not a computer name"),
}


def plant(root: Path, *cases: str) -> None:
    store = LabStore(root)
    entries, hosts = store.load_entries(), store.load_hosts()
    for case in cases:
        CASES[case][0](entries, hosts)
    store.save_entries(entries)
    store.save_hosts(hosts)
