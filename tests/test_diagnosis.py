"""Every diagnosis rule on hand-built snapshots (no lab, no directory, no hosts)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lmdoctor.services.domain import replmeta
from lmdoctor.services.domain.diagnosis import RULES, diagnose, has_errors
from lmdoctor.services.domain.models import (
    UAC_TRUSTED_FOR_DELEGATION,
    UAC_TRUSTED_TO_AUTH_FOR_DELEGATION,
    UAC_WORKSTATION_TRUST_ACCOUNT,
    VSMS,
    AuthType,
    ComputerAccount,
    Finding,
    HostReport,
    NodeSnapshot,
    Severity,
    Snapshot,
)
from lmdoctor.services.domain.spn import delegation_targets, registered_form, spn_key
from tests.support.snapshots import (
    ADDRESS,
    CLUSTER,
    GOOD_UAC,
    ISSUED,
    NAMES,
    NOW,
    account,
    changes,
    dn,
    fqdn,
    host,
    node,
    owners_for,
    record,
    replace,
    settings,
    snapshot,
    with_account,
    with_host,
    without,
)


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def only(findings: list[Finding], code: str) -> list[Finding]:
    return [f for f in findings if f.code == code]


# --- baseline ---------------------------------------------------------------------------------


def test_healthy_snapshot_has_no_findings():
    findings = diagnose(snapshot())
    assert findings == []
    assert not has_errors(findings)


def test_every_rule_is_a_generator_over_the_snapshot():
    snap = snapshot()
    for rule in RULES:
        assert list(rule(snap)) == [], rule.__name__


# --- delegation.missing ---------------------------------------------------------------------


def test_missing_names_the_pair_and_the_lacking_values():
    snap = snapshot()
    hv01 = snap.node("HV01").account
    gone = ("cifs/HV02", f"cifs/{fqdn('HV02')}")
    snap = with_account(snap, "HV01", allowed_to_delegate_to=without(hv01.allowed_to_delegate_to, *gone))
    findings = diagnose(snap)
    assert codes(findings) == ["delegation.missing"]
    f = findings[0]
    assert (f.id, f.severity, f.source, f.target) == ("delegation.missing:HV01:HV02", Severity.ERROR, "HV01", "HV02")
    assert "2 of 4" in f.message
    assert [e for e in f.evidence if "lacks" in e] == [f"HV01 msDS-AllowedToDelegateTo lacks: {v}" for v in gone]
    assert "0x8009030E" in f.cause


def test_missing_fix_adds_exactly_the_missing_values_and_purges_the_source():
    snap = snapshot()
    hv01 = snap.node("HV01").account
    gone = (f"{VSMS}/HV02", f"cifs/{fqdn('HV02')}")
    snap = with_account(snap, "HV01", allowed_to_delegate_to=without(hv01.allowed_to_delegate_to, *gone))
    (f,) = only(diagnose(snap), "delegation.missing")
    assert f.fix is not None
    (action,) = f.fix.actions
    assert action.kind == "directory.add_values"
    assert action.target == dn("HV01")
    assert action.attribute == "msDS-AllowedToDelegateTo"
    assert action.values == gone
    assert f.fix.purge_hosts == ("HV01",)
    assert "Set-ADComputer -Identity 'HV01' -Add" in action.powershell
    assert action.aduc and "Use any authentication protocol" in action.aduc


def test_missing_when_source_has_no_delegation_at_all_gives_one_finding_per_destination():
    snap = with_account(snapshot(), "HV03", allowed_to_delegate_to=())
    missing = only(diagnose(snap), "delegation.missing")
    assert [(f.source, f.target) for f in missing] == [("HV03", "HV01"), ("HV03", "HV02"), ("HV03", "HV04")]
    for f in missing:
        assert f.fix.actions[0].values == delegation_targets(f.target, fqdn(f.target))
    # no delegation values at all: not 'Kerberos only' (nothing to delegate with)
    assert not only(diagnose(snap), "delegation.kerberos_only")


def test_missing_compares_spns_without_case():
    snap = snapshot()
    hv01 = snap.node("HV01").account
    shouted = tuple(v.upper() if "HV02" in v else v for v in hv01.allowed_to_delegate_to)
    assert shouted != hv01.allowed_to_delegate_to
    snap = with_account(snap, "HV01", allowed_to_delegate_to=shouted)
    assert only(diagnose(snap), "delegation.missing") == []


def test_missing_covers_every_ordered_pair():
    snap = snapshot([node(n, peers=()) for n in NAMES])  # nobody delegates anywhere
    pairs = {(f.source, f.target) for f in only(diagnose(snap), "delegation.missing")}
    assert pairs == {(a, b) for a in NAMES for b in NAMES if a != b}
    assert len(pairs) == len(NAMES) * (len(NAMES) - 1)


def test_missing_skips_nodes_without_an_account():
    snap = replace(snapshot(), "HV04", account=None)
    missing = only(diagnose(snap), "delegation.missing")
    assert missing == []  # HV04 is neither judged as a source nor required as a destination


# --- delegation.wrong_object ----------------------------------------------------------------


def seed_like() -> Snapshot:
    """HV01 lacks HV02's values; they sit on HV02's own object (the lab's seed)."""
    snap = snapshot()
    hv01, hv02 = snap.node("HV01").account, snap.node("HV02").account
    wanted = delegation_targets("HV02", fqdn("HV02"))
    snap = with_account(snap, "HV01", allowed_to_delegate_to=without(hv01.allowed_to_delegate_to, *wanted))
    return with_account(snap, "HV02", allowed_to_delegate_to=hv02.allowed_to_delegate_to + wanted)


def test_wrong_object_values_naming_the_holders_own_services():
    findings = diagnose(seed_like())
    assert sorted(codes(findings)) == ["delegation.missing", "delegation.wrong_object"]
    (f,) = only(findings, "delegation.wrong_object")
    assert (f.id, f.severity, f.source, f.target) == ("delegation.wrong_object:HV02:HV02", Severity.WARNING, "HV02", "HV02")
    wanted = delegation_targets("HV02", fqdn("HV02"))
    assert f.evidence == tuple(f"HV02 msDS-AllowedToDelegateTo has: {v}" for v in wanted)
    (action,) = f.fix.actions
    assert (action.kind, action.target, action.attribute) == ("directory.remove_values", dn("HV02"),
                                                              "msDS-AllowedToDelegateTo")
    assert action.values == wanted  # only the stray values; HV02's legitimate values stay
    assert f.fix.purge_hosts == ("HV02",)
    (m,) = only(findings, "delegation.missing")
    assert (m.source, m.target) == ("HV01", "HV02")


def test_wrong_object_own_fqdn_in_other_case_is_caught():
    snap = snapshot()
    hv03 = snap.node("HV03").account
    snap = with_account(snap, "HV03", allowed_to_delegate_to=hv03.allowed_to_delegate_to + ("CIFS/hv03.CONTOSO.local",))
    (f,) = only(diagnose(snap), "delegation.wrong_object")
    assert f.source == "HV03" and f.fix.actions[0].values == ("CIFS/hv03.CONTOSO.local",)


def test_wrong_object_compares_the_host_in_its_upper_case_form():
    """'ſı01' upper-cases to SI01 (long s, dotless i): the value is SI01's own, as the host comparison says."""
    pair = ("SI01", "SI02")
    snap = snapshot([NodeSnapshot(name=n, fqdn=fqdn(n), account=account(n, pair), dns=(),
                                  host=host(n, addresses=(f"10.0.9.{i}",))) for i, n in enumerate(pair, start=1)])
    si01 = snap.node("SI01").account
    snap = with_account(snap, "SI01", allowed_to_delegate_to=si01.allowed_to_delegate_to + ("cifs/ſı01",))
    (f,) = only(diagnose(snap), "delegation.wrong_object")
    assert f.source == "SI01" and f.fix.actions[0].values == ("cifs/ſı01",)


def test_wrong_object_on_the_cluster_name_object():
    cno = ComputerAccount(name=CLUSTER, dn=dn(CLUSTER), allowed_to_delegate_to=delegation_targets("HV02", fqdn("HV02")))
    findings = diagnose(snapshot(other_delegators=(cno,)))
    (f,) = only(findings, "delegation.wrong_object")
    assert (f.id, f.source, f.target) == (f"delegation.wrong_object:{CLUSTER}:-", CLUSTER, None)
    assert "cluster name object" in f.cause
    (action,) = f.fix.actions
    assert action.target == dn(CLUSTER) and action.values == delegation_targets("HV02", fqdn("HV02"))
    assert f.fix.purge_hosts == ()  # the cluster name is no host to run klist on


def test_wrong_object_ignores_unrelated_values_on_the_cluster_name_object():
    cno = ComputerAccount(name=CLUSTER, dn=dn(CLUSTER), allowed_to_delegate_to=("cifs/FS01", "cifs/FS01.contoso.local"))
    assert only(diagnose(snapshot(other_delegators=(cno,))), "delegation.wrong_object") == []


def test_legit_reversed_pair_is_not_wrong_object():
    """HV02 → HV01 delegation is a legitimate pair of its own, not a misplaced HV01 → HV02 value."""
    pair = ("HV01", "HV02")
    snap = snapshot([node("HV01", peers=pair), node("HV02", peers=pair)])
    assert snap.node("HV02").account.allowed_to_delegate_to == delegation_targets("HV01", fqdn("HV01"))
    assert diagnose(snap) == []
    # drop HV01's own delegation: HV02's values still are a legit pair; only the missing direction is flagged
    snap = with_account(snap, "HV01", allowed_to_delegate_to=())
    findings = diagnose(snap)
    assert codes(findings) == ["delegation.missing"]
    assert (findings[0].source, findings[0].target) == ("HV01", "HV02")


# --- delegation.kerberos_only ---------------------------------------------------------------


def test_kerberos_only_when_protocol_transition_is_absent():
    snap = with_account(snapshot(), "HV02", uac=UAC_WORKSTATION_TRUST_ACCOUNT)
    findings = diagnose(snap)
    assert codes(findings) == ["delegation.kerberos_only"]
    f = findings[0]
    assert (f.id, f.severity, f.source, f.target) == ("delegation.kerberos_only:HV02:-", Severity.ERROR, "HV02", None)
    assert any("0x1000" in e and "0x1000000" in e for e in f.evidence)
    (action,) = f.fix.actions
    assert (action.kind, action.target, action.attribute, action.values) == (
        "directory.set_uac_bits", dn("HV02"), "userAccountControl", (hex(UAC_TRUSTED_TO_AUTH_FOR_DELEGATION),))
    assert f.fix.purge_hosts == ("HV02",)


def test_kerberos_only_not_raised_without_delegation_values_or_with_unconstrained():
    snap = with_account(snapshot(), "HV02", uac=UAC_WORKSTATION_TRUST_ACCOUNT, allowed_to_delegate_to=())
    assert only(diagnose(snap), "delegation.kerberos_only") == []
    snap = with_account(snapshot(), "HV02", uac=UAC_WORKSTATION_TRUST_ACCOUNT | UAC_TRUSTED_FOR_DELEGATION)
    assert only(diagnose(snap), "delegation.kerberos_only") == []


# --- delegation.unconstrained ---------------------------------------------------------------


def test_unconstrained_without_protocol_transition_plan_sets_it():
    snap = with_account(snapshot(), "HV03", uac=UAC_WORKSTATION_TRUST_ACCOUNT | UAC_TRUSTED_FOR_DELEGATION)
    findings = diagnose(snap)
    assert codes(findings) == ["delegation.unconstrained"]
    f = findings[0]
    assert (f.severity, f.source) == (Severity.WARNING, "HV03")
    assert [(a.kind, a.values) for a in f.fix.actions] == [
        ("directory.clear_uac_bits", (hex(UAC_TRUSTED_FOR_DELEGATION),)),
        ("directory.set_uac_bits", (hex(UAC_TRUSTED_TO_AUTH_FOR_DELEGATION),)),
    ]
    assert all(a.target == dn("HV03") for a in f.fix.actions)
    assert f.fix.purge_hosts == ("HV03",)
    assert not has_errors(findings)


def test_unconstrained_with_protocol_transition_only_clears_the_bit():
    snap = with_account(snapshot(), "HV03", uac=GOOD_UAC | UAC_TRUSTED_FOR_DELEGATION)
    (f,) = only(diagnose(snap), "delegation.unconstrained")
    assert [a.kind for a in f.fix.actions] == ["directory.clear_uac_bits"]


# --- spn.missing ----------------------------------------------------------------------------


@pytest.mark.parametrize("service,severity", [
    ("HOST", Severity.ERROR),
    (VSMS, Severity.ERROR),
    ("WSMAN", Severity.WARNING),
    ("RestrictedKrbHost", Severity.WARNING),
    ("Microsoft Virtual Console Service", Severity.WARNING),
    ("MSServerClusterMgmtAPI", Severity.WARNING),
])
def test_spn_missing_severity_by_service(service, severity):
    snap = snapshot()
    spns = snap.node("HV02").account.spns
    gone = (f"{service}/{fqdn('HV02')}",)
    snap = with_account(snap, "HV02", spns=without(spns, *gone))
    (f,) = only(diagnose(snap), "spn.missing")
    assert (f.severity, f.source) == (severity, "HV02")
    assert f.evidence == (f"HV02 servicePrincipalName lacks: {gone[0]}",)
    (action,) = f.fix.actions
    assert (action.kind, action.target, action.attribute, action.values) == (
        "directory.add_values", dn("HV02"), "servicePrincipalName", gone)
    assert f"setspn -S '{gone[0]}' HV02" in action.powershell


def test_spn_missing_mixed_is_an_error_and_lists_all():
    snap = snapshot()
    spns = snap.node("HV01").account.spns
    gone = ("WSMAN/HV01", f"HOST/{fqdn('HV01')}")
    snap = with_account(snap, "HV01", spns=without(spns, *gone))
    (f,) = only(diagnose(snap), "spn.missing")
    assert f.severity == Severity.ERROR
    assert set(f.fix.actions[0].values) == set(gone)


def test_spn_missing_ignores_case():
    snap = snapshot()
    spns = snap.node("HV01").account.spns
    snap = with_account(snap, "HV01", spns=tuple(s.lower() for s in spns))
    assert only(diagnose(snap), "spn.missing") == []


def test_spn_missing_account_is_an_error_with_a_remedy_and_no_fix():
    snap = replace(snapshot(), "HV04", account=None)
    (f,) = only(diagnose(snap), "spn.missing")
    assert (f.severity, f.source, f.fix) == (Severity.ERROR, "HV04", None)
    assert "HV04$" in f.cause
    assert f.remedy and "Test-ComputerSecureChannel" in f.remedy


# --- spn.duplicate --------------------------------------------------------------------------


def test_duplicate_one_finding_per_node_and_other_holder():
    owners = owners_for(NAMES)
    for spn in ("HOST/HV02", f"HOST/{fqdn('HV02')}", "cifs/HV02", f"cifs/{fqdn('HV02')}"):
        owners[spn_key(spn)] = ("HV02", "HV02-OLD")  # cifs keys resolve to the HOST owners
    owners[spn_key(f"WSMAN/{fqdn('HV02')}")] = ("HV02", "WS001")
    findings = diagnose(snapshot(spn_owners=owners))
    dups = only(findings, "spn.duplicate")
    assert [(f.id, f.source, f.target) for f in dups] == [
        ("spn.duplicate:HV02-OLD:HV02", "HV02-OLD", "HV02"),
        ("spn.duplicate:WS001:HV02", "WS001", "HV02"),
    ]
    old = dups[0]
    assert old.severity == Severity.ERROR
    assert old.evidence == ("servicePrincipalName=HOST/HV02 is on HV02 and HV02-OLD",
                            f"servicePrincipalName=HOST/{fqdn('HV02')} is on HV02 and HV02-OLD")
    assert old.fix is None and "setspn -D 'HOST/HV02' HV02-OLD" in old.remedy
    assert "0x80090322" in old.cause
    assert dups[1].evidence == (f"servicePrincipalName=WSMAN/{fqdn('HV02')} is on HV02 and WS001",)


def test_duplicate_between_two_nodes_names_the_holder_as_source():
    owners = owners_for(NAMES)
    owners[spn_key(f"{VSMS}/{fqdn('HV01')}")] = ("HV01", "HV03")
    (f,) = only(diagnose(snapshot(spn_owners=owners)), "spn.duplicate")
    assert (f.source, f.target) == ("HV03", "HV01")


def test_cifs_is_looked_up_as_host():
    assert registered_form("cifs/HV02.contoso.local") == "HOST/HV02.contoso.local"
    assert registered_form(f"{VSMS}/HV02") == f"{VSMS}/HV02"
    # a duplicate only under the HOST key is still found although nodes never register cifs/ themselves
    owners = owners_for(NAMES)
    owners[spn_key("host/hv02.contoso.local")] = ("HV02", "NAS01")
    (f,) = only(diagnose(snapshot(spn_owners=owners)), "spn.duplicate")
    assert f.source == "NAS01"


# --- dns.stale ------------------------------------------------------------------------------


def test_dns_foreign_address_is_stale():
    snap = replace(snapshot(), "HV02", dns=(record("HV02", ADDRESS["HV02"]), record("HV02", ADDRESS["HV03"])))
    findings = diagnose(snap)
    assert codes(findings) == ["dns.stale"]
    f = findings[0]
    assert (f.id, f.severity, f.source, f.fix) == ("dns.stale:HV02:-", Severity.ERROR, "HV02", None)
    assert any(ADDRESS["HV03"] in e and "dynamic" in e for e in f.evidence)
    assert not any(f"A {ADDRESS['HV02']} " in e for e in f.evidence)
    assert f"-RecordData {ADDRESS['HV03']}" in f.remedy
    assert f"-RecordData {ADDRESS['HV02']}" not in f.remedy
    assert "ipconfig /registerdns on HV02" in f.remedy
    # HV03 shares the address, but it really has it: not stale
    assert only(findings, "dns.stale")[0].source == "HV02"


def test_dns_static_foreign_record_says_static():
    snap = replace(snapshot(), "HV01", dns=(record("HV01", "192.0.2.7", static=True),))
    (f,) = only(diagnose(snap), "dns.stale")
    assert any("192.0.2.7 (static)" in e for e in f.evidence)


def test_dns_shared_address_counts_only_when_the_host_is_unknown():
    shared = (record("HV02", ADDRESS["HV03"]),)
    # host reachable and HV02 really has that address (e.g. a moved IP): not stale
    snap = replace(snapshot(), "HV02", dns=shared)
    snap = with_host(snap, "HV02", addresses=(ADDRESS["HV02"], ADDRESS["HV03"]))
    assert only(diagnose(snap), "dns.stale") == []
    # host not read: a shared address is the only evidence, and it is enough
    snap = replace(snapshot(), "HV02", dns=shared, host=None)
    (f,) = only(diagnose(snap), "dns.stale")
    assert "also HV03's address" in f.evidence[0]
    # host not read, address unique: nothing to go on
    snap = replace(snapshot(), "HV02", dns=(record("HV02", "192.0.2.50"),), host=None)
    assert only(diagnose(snap), "dns.stale") == []


def test_dns_unreachable_host_is_treated_as_unknown():
    down = HostReport(name="HV02", reachable=False, error="timeout")
    snap = replace(snapshot(), "HV02", host=down, dns=(record("HV02", "192.0.2.50"),))
    assert only(diagnose(snap), "dns.stale") == []
    snap = replace(snapshot(), "HV02", host=down, dns=(record("HV02", ADDRESS["HV04"]),))
    assert [f.source for f in only(diagnose(snap), "dns.stale")] == ["HV02"]


# --- auth.mismatch / auth.credssp -----------------------------------------------------------


def test_auth_mismatch_names_the_odd_node_and_fixes_only_it():
    snap = with_host(snapshot(), "HV02", settings=settings(AuthType.CREDSSP))
    findings = diagnose(snap)
    assert codes(findings) == ["auth.mismatch"]
    f = findings[0]
    assert (f.id, f.severity, f.source, f.target) == ("auth.mismatch:-:HV02", Severity.ERROR, None, "HV02")
    assert "0x8009030D" in f.cause
    assert len(f.evidence) == len(NAMES)
    (action,) = f.fix.actions
    assert (action.kind, action.target, action.values) == ("host.set_auth_type", "HV02", ("Kerberos",))


def test_auth_mismatch_with_several_credssp_nodes():
    snap = with_host(snapshot(), "HV02", settings=settings(AuthType.CREDSSP))
    snap = with_host(snap, "HV04", settings=settings(AuthType.CREDSSP))
    (f,) = only(diagnose(snap), "auth.mismatch")
    assert f.target is None
    assert [a.target for a in f.fix.actions] == ["HV02", "HV04"]
    assert only(diagnose(snap), "auth.credssp") == []


def test_all_credssp_is_a_warning_per_node_not_a_mismatch():
    snap = snapshot()
    for n in NAMES:
        snap = with_host(snap, n, settings=settings(AuthType.CREDSSP))
    findings = diagnose(snap)
    assert codes(findings) == ["auth.credssp"] * len(NAMES)
    assert {f.source for f in findings} == set(NAMES)
    assert all(f.severity == Severity.WARNING for f in findings)
    assert "Credential Guard" in findings[0].cause
    for f in findings:
        assert f.evidence == (f"Get-VMHost {f.source}: VirtualMachineMigrationAuthenticationType = CredSSP",)
        assert [(a.kind, a.target, a.values) for a in f.fix.actions] == [("host.set_auth_type", f.source, ("Kerberos",))]
    assert not has_errors(findings)


# --- migration.disabled ---------------------------------------------------------------------


def test_migration_disabled():
    snap = with_host(snapshot(), "HV02", settings=settings(enabled=False))
    findings = diagnose(snap)
    assert codes(findings) == ["migration.disabled"]
    f = findings[0]
    assert (f.severity, f.source) == (Severity.ERROR, "HV02")
    (action,) = f.fix.actions
    assert (action.kind, action.target, action.values) == ("host.enable_migration", "HV02", ("True",))


# --- tickets.stale --------------------------------------------------------------------------


def test_tickets_stale_when_delegation_changed_after_tgt():
    snap = with_account(snapshot(), "HV01", attribute_changes=changes(NOW - timedelta(hours=1), "msDS-AllowedToDelegateTo"))
    findings = diagnose(snap)
    assert codes(findings) == ["tickets.stale"]
    f = findings[0]
    assert (f.severity, f.source) == (Severity.ERROR, "HV01")
    assert f.fix.actions == () and f.fix.purge_hosts == ("HV01",)
    assert any("klist -li 0x3e7" in e for e in f.evidence)
    assert any("HV01$ msDS-AllowedToDelegateTo changed 2025-03-01 11:00:00 UTC" in e for e in f.evidence)


@pytest.mark.parametrize("attribute", ["userAccountControl", "servicePrincipalName"])
def test_tickets_stale_when_delegation_bits_or_spns_changed_after_tgt(attribute):
    snap = with_account(snapshot(), "HV03", attribute_changes=changes(NOW, attribute))
    assert [f.source for f in only(diagnose(snap), "tickets.stale")] == ["HV03"]


def test_a_destinations_rbcd_change_after_the_tgt_makes_the_sources_tickets_stale():
    snap = with_account(snapshot(), "HV02", attribute_changes=changes(NOW, "msDS-AllowedToActOnBehalfOfOtherIdentity"))
    stale = only(diagnose(snap), "tickets.stale")
    assert "HV01" in {f.source for f in stale} and "HV02" not in {f.source for f in stale}
    assert any("HV02$ msDS-AllowedToActOnBehalfOfOtherIdentity changed" in e for f in stale for e in f.evidence)


def _with_sids(snap: Snapshot) -> Snapshot:
    """Every node's objectSid read, HV03 also a member of a hosts group."""
    for i, name in enumerate(NAMES):
        groups = ("S-1-5-21-1-2-3-1201",) if name == "HV03" else ()
        snap = with_account(snap, name, sid=f"S-1-5-21-1-2-3-{1101 + i}", group_sids=groups)
    return snap


@pytest.mark.parametrize("allowed,denied,stale", [
    (("S-1-5-21-1-2-3-1101",), (), {"HV01"}),  # the descriptor names HV01's own SID
    (("S-1-5-21-1-2-3-1201",), (), {"HV03"}),  # a group HV03 belongs to
    ((), ("S-1-5-21-1-2-3-1101",), {"HV01"}),  # a deny entry matters as much as a grant
    ((), (), set()),  # cleared, or naming no node: nobody's tickets depend on it
    (("S-1-5-21-1-2-3-9999",), (), set()),
])
def test_an_rbcd_change_counts_only_against_the_sources_its_descriptor_names(allowed, denied, stale):
    snap = with_account(_with_sids(snapshot()), "HV02", rbcd_principals=allowed, rbcd_denied=denied,
                        attribute_changes=changes(NOW, replmeta.ALLOWED_TO_ACT))
    assert {f.source for f in only(diagnose(snap), "tickets.stale")} == stale


def test_logon_bookkeeping_or_a_password_change_alone_does_not_make_tickets_stale():
    """whenChanged moves on every write (lastLogonTimestamp, the machine password): it is no delegation change."""
    snap = with_account(snapshot(), "HV01", when_changed=NOW - timedelta(minutes=5))
    assert only(diagnose(snap), "tickets.stale") == []


@pytest.mark.parametrize("changed,issued", [
    (ISSUED, ISSUED),  # same instant: tickets reflect the change
    (ISSUED - timedelta(seconds=1), ISSUED),
    (None, ISSUED),  # the directory returned no replication metadata: unknown, not stale
    (NOW, None),
])
def test_tickets_not_stale(changed, issued):
    snap = with_account(snapshot(), "HV01", attribute_changes=changes(changed) if changed else ())
    snap = with_host(snap, "HV01", tickets_issued=issued)
    assert only(diagnose(snap), "tickets.stale") == []


# --- host.unreachable -----------------------------------------------------------------------


def test_unreachable_host_is_reported_and_skipped_by_host_rules():
    # even if a gateway left stale settings on the report, host rules must not judge an unreachable host
    down = HostReport(name="HV03", reachable=False, error="HV03: WinRM did not answer within the timeout",
                      settings=settings(AuthType.CREDSSP, enabled=False), tickets_issued=NOW - timedelta(days=9))
    snap = replace(snapshot(), "HV03", host=down)
    snap = with_account(snap, "HV03", attribute_changes=changes(NOW))
    findings = diagnose(snap)
    assert codes(findings) == ["host.unreachable"]
    f = findings[0]
    assert (f.id, f.severity, f.source) == ("host.unreachable:HV03:-", Severity.ERROR, "HV03")
    assert f.evidence == ("HV03: WinRM did not answer within the timeout",)
    assert f.remedy and f"Test-WSMan {fqdn('HV03')}" in f.remedy
    assert f.fix is None


def test_unreachable_host_does_not_hide_directory_findings():
    down = HostReport(name="HV03", reachable=False, error="timeout")
    snap = replace(snapshot(), "HV03", host=down)
    snap = with_account(snap, "HV03", uac=UAC_WORKSTATION_TRUST_ACCOUNT)
    assert sorted(codes(diagnose(snap))) == ["delegation.kerberos_only", "host.unreachable"]


def test_node_without_host_report_is_not_unreachable():
    snap = replace(snapshot(), "HV03", host=None)
    assert diagnose(snap) == []


# --- the findings as a whole ----------------------------------------------------------------


def kitchen_sink() -> Snapshot:
    snap = seed_like()
    snap = with_account(snap, "HV03", uac=UAC_WORKSTATION_TRUST_ACCOUNT | UAC_TRUSTED_FOR_DELEGATION)
    snap = with_account(snap, "HV04", uac=UAC_WORKSTATION_TRUST_ACCOUNT,
                        spns=without(snap.node("HV04").account.spns, "WSMAN/HV04"),
                        attribute_changes=changes(NOW, "servicePrincipalName"))
    snap = with_host(snap, "HV02", settings=settings(AuthType.CREDSSP, enabled=False))
    snap = replace(snap, "HV01", dns=(record("HV01", ADDRESS["HV01"]), record("HV01", "192.0.2.1", static=True)))
    owners = dict(snap.spn_owners)
    owners[spn_key("HOST/HV02")] = ("HV02", "HV02-OLD")
    owners[spn_key("HOST/HV01")] = ("HV01", "HV02-OLD")
    snap = with_account(snap, "HV01", allowed_to_delegate_to=snap.node("HV01").account.allowed_to_delegate_to
                        + ("cifs/HV02.contoso.local.",))
    cno = ComputerAccount(name=CLUSTER, dn=dn(CLUSTER), allowed_to_delegate_to=("cifs/HV01",))
    return snap.model_copy(update={"spn_owners": owners, "other_delegators": (cno,)})


def test_kitchen_sink_raises_every_rule_once_and_ids_are_unique():
    findings = diagnose(kitchen_sink())
    ids = [f.id for f in findings]
    assert len(ids) == len(set(ids)), ids
    assert set(codes(findings)) == {
        "delegation.missing", "delegation.wrong_object", "delegation.kerberos_only", "delegation.unconstrained",
        "delegation.near_miss", "spn.missing", "spn.duplicate", "dns.stale", "auth.mismatch", "migration.disabled", "tickets.stale",
    }
    for f in findings:
        assert f.id == f"{f.code}:{f.source or '-'}:{f.target or '-'}"
        assert f.message and f.cause and f.evidence
        assert f.fix is not None or f.remedy, f.id


def test_unique_ids_with_an_unreachable_node_too():
    snap = replace(kitchen_sink(), "HV04", host=HostReport(name="HV04", reachable=False, error="down"))
    ids = [f.id for f in diagnose(snap)]
    assert "host.unreachable:HV04:-" in ids
    assert len(ids) == len(set(ids))


def test_findings_are_ordered_by_severity_then_code():
    findings = diagnose(kitchen_sink())
    rank = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    keys = [(rank[f.severity], f.code, f.source or "", f.target or "") for f in findings]
    assert keys == sorted(keys)
    assert findings[0].severity == Severity.ERROR
    assert findings[-1].severity == Severity.WARNING


def test_has_errors():
    assert has_errors(diagnose(kitchen_sink()))
    warnings_only = with_account(snapshot(), "HV03", uac=GOOD_UAC | UAC_TRUSTED_FOR_DELEGATION)
    findings = diagnose(warnings_only)
    assert findings and not has_errors(findings)
    assert not has_errors([])


def test_diagnosis_is_pure():
    snap = kitchen_sink()
    before = snap.model_dump()
    first, second = diagnose(snap), diagnose(snap)
    assert first == second
    assert snap.model_dump() == before
