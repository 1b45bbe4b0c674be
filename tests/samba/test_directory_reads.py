"""LdapDirectory reads against a real Samba AD DC: node accounts in a constant number of searches (counted
by ldap3 itself), paging, SPN owners with the cifs→HOST alias in one query, RBCD descriptors, DNS records."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from ldap3 import MODIFY_ADD
from winacl.dtyp.security_descriptor import SECURITY_DESCRIPTOR
from winacl.dtyp.sid import SID

from lmdoctor.services.backends.directory import dnsrecord
from lmdoctor.services.backends.directory import ldap as ldap_module
from lmdoctor.services.backends.directory.connect import connect
from lmdoctor.services.backends.directory.ldap import LdapDirectory
from lmdoctor.services.domain import matrix
from lmdoctor.services.domain.coverage import rbcd_grant
from lmdoctor.services.domain.models import VSMS
from lmdoctor.services.domain.spn import delegation_targets
from lmdoctor.services.operations.inventory import cluster_spns
from lmdoctor.services.storage.profiles import Profile
from tests.samba.harness import ADMIN_PASSWORD, COMPUTERS_DN, DNS_ZONE_DN, SambaDC, modify_offline
from tests.samba.scenarios import add_cluster

pytestmark = pytest.mark.samba

NODES = [f"RD{i:02d}" for i in range(1, 17)]
RBCD = "msDS-AllowedToActOnBehalfOfOtherIdentity"


@pytest.fixture(scope="module")
def cluster(samba_dc: SambaDC) -> dict[str, str]:
    """RD01–RD16 (healthy, full mesh), a stale object holding RD02's HOST SPN (injected offline), an RBCD
    descriptor on RD03 naming RD01, and DNS records for RD01 (static) and RD02 (dynamic + stale)."""
    conn = samba_dc.ldap()
    try:
        dns = add_cluster(conn, NODES)
        sid = SID.from_bytes(samba_dc.read(dns["RD01"], ["objectSid"])["objectSid"][0])
    finally:
        conn.unbind()
    # Samba 4.17 lets only the system write RBCD descriptors; put it into the partition offline
    sd = SECURITY_DESCRIPTOR.from_sddl(f"O:S-1-5-32-544D:(A;;0xf01ff;;;{sid})").to_bytes()
    modify_offline(samba_dc, f"dn: {dns['RD03']}\nchangetype: modify\nreplace: {RBCD}\n"
                             f"{RBCD}:: {base64.b64encode(sd).decode()}\n")
    stale = samba_dc.add_computer("RD02-OLD", ["HOST/RD02-OLD"])
    samba_dc.inject_duplicate_spn_offline(stale, "HOST/RD02.contoso.local")
    now = datetime.now(timezone.utc)
    samba_dc.add_dns_a_record("RD01", "10.1.0.1")
    samba_dc.add_dns_a_record("RD02", "10.1.0.2", dnsrecord.hours_since_1601(now - timedelta(hours=2)))
    samba_dc.add_dns_a_record("RD02", "10.1.0.99", dnsrecord.hours_since_1601(now - timedelta(days=40)))
    return {**dns, "RD02-OLD": stale}


@pytest.fixture
def directory(samba_dc_up: SambaDC, cluster: dict[str, str]) -> Iterator[LdapDirectory]:
    profile = Profile(name="samba", domain="contoso.local", dc=samba_dc_up.hostname, ca_file=samba_dc_up.ca_file,
                      bind_user="Administrator@contoso.local", cluster="HVCLUSTER", timeout_s=10)
    with samba_dc_up.inside():
        d = connect(profile, ADMIN_PASSWORD, address=samba_dc_up.ip)
    yield d
    d.close()


def searches(d: LdapDirectory) -> int:
    """Search operations ldap3 itself counted on this connection."""
    return d.search_operations()


def view_of(d: LdapDirectory, names: list[str]):
    targets = [s for n in names for s in delegation_targets(n, f"{n}.contoso.local")]
    return d.read_cluster(names, cluster_spns(names, "contoso.local"), targets)


def test_nodes_are_read_in_a_constant_number_of_searches(directory: LdapDirectory) -> None:
    counts = {}
    for size in (4, 16):
        names = NODES[:size]
        before = searches(directory)
        view = view_of(directory, names)
        counts[size] = searches(directory) - before
        assert sorted(a.name for a in view.accounts) == names
        for a in view.accounts:
            peers = [n for n in names if n != a.name]
            assert a.dns_host_name == f"{a.name}.contoso.local"
            assert f"{VSMS}/{a.name}.contoso.local" in a.spns and f"HOST/{a.name}" in a.spns
            assert a.protocol_transition and not a.unconstrained
            assert {f"cifs/{p}.contoso.local" for p in peers} <= set(a.allowed_to_delegate_to)
            assert a.when_changed is not None and a.when_changed.tzinfo is not None
    assert counts == {4: 4, 16: 4}  # the nodes' accounts, the other SPN holders, the DNS records, the RootDSE clock
    assert directory.round_trips == searches(directory)


def test_paged_results_return_every_node(directory: LdapDirectory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ldap_module, "PAGE_SIZE", 5)
    before = searches(directory)
    accounts = directory.read_computers(NODES)
    assert sorted(a.name for a in accounts) == NODES
    assert searches(directory) - before == 4  # 16 entries in pages of 5


def test_spn_owners_in_one_query_with_the_cifs_alias(directory: LdapDirectory) -> None:
    before = searches(directory)
    owners = directory.find_spn_owners(["cifs/RD02.contoso.local", "HOST/RD02", "cifs/RD01", "WSMAN/RD05",
                                        f"{VSMS}/RD04.contoso.local", "cifs/NOSUCH"])
    assert searches(directory) - before == 1
    assert owners == {
        "cifs/rd02.contoso.local": ("RD02", "RD02-OLD"),  # cifs/ is served by HOST/: the duplicate shows
        "host/rd02": ("RD02",),
        "cifs/rd01": ("RD01",),
        "wsman/rd05": ("RD05",),
        f"{VSMS.lower()}/rd04.contoso.local": ("RD04",),
        "cifs/nosuch": (),
    }


def test_rbcd_descriptor_is_decoded(directory: LdapDirectory, samba_dc_up: SambaDC, cluster) -> None:
    rd01_sid = str(SID.from_bytes(samba_dc_up.read(cluster["RD01"], ["objectSid"])["objectSid"][0]))
    accounts = {a.name: a for a in directory.read_computers(["RD01", "RD03"])}
    assert accounts["RD03"].rbcd_principals == (rd01_sid,)
    assert accounts["RD01"].rbcd_principals == ()


def test_delegators_and_dns_records(directory: LdapDirectory, samba_dc_up: SambaDC, cluster) -> None:
    samba_dc_up.modify(cluster["RD02-OLD"], {"msDS-AllowedToDelegateTo": [(MODIFY_ADD, ["cifs/RD07.contoso.local"])]})
    view = view_of(directory, ["RD02", "RD07"])  # RD02-OLD holds RD02's HOST SPN and delegates to RD07
    assert {a.name for a in view.delegators} == {"RD02", "RD07", "RD02-OLD"}
    dns = directory.read_dns_records(["RD01", "RD02", "RD09"])
    assert [(r.address, r.static) for r in dns["RD01"]] == [("10.1.0.1", True)]
    assert dns["RD09"] == ()
    rd02 = {r.address: r for r in dns["RD02"]}
    assert set(rd02) == {"10.1.0.2", "10.1.0.99"} and not any(r.static for r in rd02.values())
    age = datetime.now(timezone.utc) - rd02["10.1.0.99"].timestamp
    assert timedelta(days=40) <= age < timedelta(days=40, hours=2)
    assert timedelta(hours=2) <= datetime.now(timezone.utc) - rd02["10.1.0.2"].timestamp < timedelta(hours=4)
    assert view.dns["RD07"] == () and {r.address for r in view.dns["RD02"]} == {"10.1.0.2", "10.1.0.99"}


def test_dns_node_dn_matches_the_lab(samba_dc_up: SambaDC, directory: LdapDirectory) -> None:
    assert directory.zone_dn() == DNS_ZONE_DN and COMPUTERS_DN.endswith(directory.base_dn)


def test_rbcd_through_nested_groups_is_read_without_a_search_per_node(
        directory: LdapDirectory, samba_dc_up: SambaDC, cluster) -> None:
    """RD05 is in LM-Hosts, LM-Hosts in LM-Migration; RD06's descriptor grants LM-Migration. The inventory
    reads objectSid, memberOf and primaryGroupID with the accounts and follows the groups one search per
    nesting level for all nodes together; Windows' decision (lmdoctor.services.domain.coverage.rbcd_grant) then sees the grant.
    Samba's KDC does not evaluate RBCD, so only the reading is proved here (see tests/test_coverage.py)."""
    users = f"CN=Users,{samba_dc_up.base_dn}"
    conn = samba_dc_up.ldap()
    try:
        for group in ("LM-Hosts", "LM-Migration"):
            conn.add(f"CN={group},{users}", ["top", "group"], {"sAMAccountName": group})
        conn.modify(f"CN=LM-Hosts,{users}", {"member": [(MODIFY_ADD, [cluster["RD05"]])]})
        conn.modify(f"CN=LM-Migration,{users}", {"member": [(MODIFY_ADD, [f"CN=LM-Hosts,{users}"])]})
    finally:
        conn.unbind()
    sid_of = {name: str(SID.from_bytes(samba_dc_up.read(dn, ["objectSid"])["objectSid"][0]))
              for name, dn in (("RD05", cluster["RD05"]), ("hosts", f"CN=LM-Hosts,{users}"),
                               ("migration", f"CN=LM-Migration,{users}"))}
    sd = SECURITY_DESCRIPTOR.from_sddl(f"O:S-1-5-32-544D:(A;;0xf01ff;;;{sid_of['migration']})").to_bytes()
    modify_offline(samba_dc_up, f"dn: {cluster['RD06']}\nchangetype: modify\nreplace: {RBCD}\n"
                                f"{RBCD}:: {base64.b64encode(sd).decode()}\n")
    with samba_dc_up.inside():
        fresh = connect(Profile(name="samba", domain="contoso.local", dc=samba_dc_up.hostname,
                                ca_file=samba_dc_up.ca_file, bind_user="Administrator@contoso.local",
                                cluster="HVCLUSTER", timeout_s=10), ADMIN_PASSWORD, address=samba_dc_up.ip)
    try:
        names = NODES[:8]
        before = searches(fresh)
        view = view_of(fresh, names)
        assert searches(fresh) - before == 4 + 2  # the 4 cluster reads + one search per nesting level (LM-Hosts, LM-Migration)
        accounts = {a.name: a for a in view.accounts}
        rd05, rd06 = accounts["RD05"], accounts["RD06"]
        assert rd05.sid == sid_of["RD05"]
        domain_sid = sid_of["RD05"].rsplit("-", 1)[0]
        assert {sid_of["hosts"], sid_of["migration"], f"{domain_sid}-515"} <= set(rd05.group_sids)
        assert rd06.rbcd_principals == (sid_of["migration"],) and rd06.rbcd_denied == ()
        assert rbcd_grant(rd06, rd05) == f"group {sid_of['migration']}"
        assert rbcd_grant(rd06, accounts["RD07"]) is None
        status = matrix.pair(next(n for n in _nodes(view, names) if n.name == "RD05"),
                             next(n for n in _nodes(view, names) if n.name == "RD06"))
        assert status.ok and status.rbcd == f"group {sid_of['migration']}"
    finally:
        fresh.close()


def _nodes(view, names):
    from lmdoctor.services.domain.models import NodeSnapshot
    by = {a.name: a for a in view.accounts}
    return [NodeSnapshot(name=n, fqdn=f"{n}.contoso.local", account=by[n]) for n in names]
