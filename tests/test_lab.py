"""The lab host gateway decides Move-VM as Windows would; unreachable hosts do not block the others."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ldap3 import MODIFY_REPLACE

from lmdoctor.services.backends.hosts.base import HostError, HostUnreachable
from lmdoctor.services.backends.lab.hosts import TicketViewAuthority
from lmdoctor.services.backends.lab.state import LabStore, TicketView
from lmdoctor.services.domain import events
from lmdoctor.services.domain.diagnosis import diagnose
from lmdoctor.services.domain.models import (
    UAC_TRUSTED_FOR_DELEGATION,
    UAC_TRUSTED_TO_AUTH_FOR_DELEGATION,
    UAC_WORKSTATION_TRUST_ACCOUNT,
    AuthType,
    MoveProgress,
)
from lmdoctor.services.domain.spn import delegation_targets
from lmdoctor.services.operations import lab_admin as manage
from lmdoctor.services.operations.inventory import InventoryError, take_snapshot
from lmdoctor.services.operations.migration import MigrationError, MoveRequest, run_test_move
from lmdoctor.services.operations.session import Session

HV02_TARGETS = delegation_targets("HV02", "HV02.contoso.local")

# scenario -> (Move-VM APP01 HV01 → HV02 allowed?, HRESULT or text in the error, classified cause)
DECISIONS = {
    "seed": (False, "0x8009030E", "kcd-missing-or-kerberos-only"),
    "healthy": (True, None, None),
    "kerberos-only": (False, "0x8009030E", "kcd-missing-or-kerberos-only"),
    "duplicate-spn": (False, "0x80090322", "duplicate-spn-or-stale-dns"),
    "stale-dns": (False, "0x80090322", "duplicate-spn-or-stale-dns"),
    "auth-mismatch": (False, "0x8009030D", "auth-mismatch-or-wrong-object"),
    "migration-disabled": (False, "migration is disabled", "migration-disabled"),
    "stale-tickets": (False, "0x8009030E", "kcd-missing-or-kerberos-only"),
    "unconstrained": (True, None, None),
}


def dn(name: str) -> str:
    return f"CN={name},CN=Computers,DC=contoso,DC=local"


def hosts_file(s: Session) -> Path:
    return Path(s.lab_dir) / "hosts.json"


def vm_names(s: Session, host: str) -> list[str]:
    return [v.name for v in s.hosts.host_report(host).vms]


def set_reachable(s: Session, host: str, reachable: bool) -> None:
    """Edit hosts.json the way an operator would to take a host off the network."""
    data = json.loads(hosts_file(s).read_text(encoding="utf-8"))
    data["hosts"][host]["reachable"] = reachable
    hosts_file(s).write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize("scenario", list(DECISIONS))
def test_move_decision_per_scenario(lab_session, scenario):
    s = lab_session(scenario)
    allowed, signature, cause = DECISIONS[scenario]
    before = hosts_file(s).read_bytes()
    result = s.hosts.move_vm("APP01", "HV01", "HV02", what_if=True)
    assert (result.vm, result.source, result.destination, result.what_if) == ("APP01", "HV01", "HV02", True)
    assert result.ok is allowed
    if allowed:
        assert result.error is None
    else:
        assert signature in result.error
        assert "failed at migration source 'HV01'" in result.error
        assert result.cause == cause
        assert events.classify(result.error, 21024) == cause
    assert hosts_file(s).read_bytes() == before  # what-if changes nothing, not even the event log


def test_failed_move_logs_a_container_event_on_the_source(lab_session):
    s = lab_session("seed")
    result = s.hosts.move_vm("APP01", "HV01", "HV02")
    assert not result.ok
    newest = s.hosts.host_report("HV01").events[0]
    assert newest.event_id == 21024 and newest.level == "Error"
    assert newest.cause == "kcd-missing-or-kerberos-only"
    assert vm_names(s, "HV01").count("APP01") == 1 and "APP01" not in vm_names(s, "HV02")


def test_what_if_does_not_move(lab_session):
    s = lab_session("healthy")
    before = hosts_file(s).read_bytes()
    progress: list[MoveProgress] = []
    result = s.hosts.move_vm("APP01", "HV01", "HV02", what_if=True, progress=progress.append)
    assert result.ok and result.what_if
    assert progress == []
    assert hosts_file(s).read_bytes() == before
    assert s.hosts.get_vm("HV02", "APP01") is None
    assert s.hosts.get_vm("HV01", "APP01") is not None


def test_live_move_reports_progress_and_lands_on_the_destination(lab_session):
    s = lab_session("healthy")
    progress: list[MoveProgress] = []
    result = s.hosts.move_vm("APP01", "HV01", "HV02", progress=progress.append)
    assert result.ok and not result.what_if and result.error is None
    assert [p.percent for p in progress] == list(range(0, 101, 10))
    assert [p.status for p in progress if p.percent == 90] == ["Blackout"]
    assert all("APP01" in p.activity for p in progress)
    moved = s.hosts.get_vm("HV02", "APP01")
    assert moved is not None and moved.host == "HV02"
    assert s.hosts.get_vm("HV01", "APP01") is None
    assert s.hosts.get_vm("hv02", "app01") is not None  # Get-VM names are case-insensitive
    assert vm_names(s, "HV01") == ["APP02"]
    events = s.hosts.host_report("HV01").events[:3]
    assert [e.event_id for e in events] == [20417, 20415, 20413]  # newest first: completed, blackout, started
    assert result.blackout_ms == 68.0 and result.bytes_transferred == 8 << 30  # APP01's 8 GiB
    assert "APP01" in events[1].message and "blackout time of 0.068 seconds" in events[1].message
    assert s.hosts.host_report("HV01").events[0].cause == "migration-lifecycle"


def test_move_of_an_unknown_vm_is_a_host_error(lab_session):
    s = lab_session("healthy")
    with pytest.raises(HostError, match="NOPE"):
        s.hosts.move_vm("NOPE", "HV01", "HV02")


def test_stale_tickets_block_until_purged(lab_session):
    s = lab_session("stale-tickets")
    assert isinstance(s.hosts.authority, TicketViewAuthority)
    # the directory already allows HV01 → HV02 with protocol transition ...
    hv01 = s.directory.read_computers(["HV01"])[0]
    assert set(HV02_TARGETS) <= set(hv01.allowed_to_delegate_to) and hv01.protocol_transition
    # ... but the SYSTEM session's tickets predate it
    assert not s.hosts.move_vm("APP01", "HV01", "HV02", what_if=True).ok
    s.hosts.purge_tickets("HV01")
    tickets = LabStore(s.lab_dir).load_hosts().hosts["HV01"].tickets
    assert set(HV02_TARGETS) <= set(tickets.allowed_to_delegate_to)
    assert s.hosts.move_vm("APP01", "HV01", "HV02", what_if=True).ok
    assert s.hosts.move_vm("APP01", "HV01", "HV02").ok
    assert s.hosts.get_vm("HV02", "APP01") is not None


def test_directory_change_needs_a_purge_to_take_effect(lab_session):
    s = lab_session("seed")
    s.directory.add_values(dn("HV01"), "msDS-AllowedToDelegateTo", list(HV02_TARGETS))
    result = s.hosts.move_vm("APP01", "HV01", "HV02", what_if=True)
    assert not result.ok and "0x8009030E" in result.error
    assert [f.source for f in diagnose(take_snapshot(s.directory, s.hosts, s.cluster))
            if f.code == "tickets.stale"] == ["HV01"]
    s.hosts.purge_tickets("HV01")
    assert s.hosts.move_vm("APP01", "HV01", "HV02", what_if=True).ok


def test_ticket_view_authority():
    authority = TicketViewAuthority()
    spn = "Microsoft Virtual System Migration Service/HV02.contoso.local"
    good = TicketView(issued="2025-01-01T00:00:00Z", allowed_to_delegate_to=[spn.upper()],
                      uac=UAC_WORKSTATION_TRUST_ACCOUNT | UAC_TRUSTED_TO_AUTH_FOR_DELEGATION)
    assert authority.allows("HV01", good, spn)[0]
    kerberos_only = good.model_copy(update={"uac": UAC_WORKSTATION_TRUST_ACCOUNT})
    allowed, why = authority.allows("HV01", kerberos_only, spn)
    assert not allowed and "Kerberos only" in why
    nothing = good.model_copy(update={"allowed_to_delegate_to": []})
    allowed, why = authority.allows("HV01", nothing, spn)
    assert not allowed and "not allowed to delegate" in why
    unconstrained = nothing.model_copy(update={"uac": UAC_WORKSTATION_TRUST_ACCOUNT | UAC_TRUSTED_FOR_DELEGATION})
    assert authority.allows("HV03", unconstrained, spn)[0]


def test_smb_transport_needs_cifs_delegation(lab_session):
    s = lab_session("healthy")
    s.directory.remove_values(dn("HV01"), "msDS-AllowedToDelegateTo", ["cifs/HV02.contoso.local"])
    s.hosts.purge_tickets("HV01")
    assert s.hosts.move_vm("APP01", "HV01", "HV02", what_if=True).ok  # Compression: VSMS is enough
    data = json.loads(hosts_file(s).read_text(encoding="utf-8"))
    data["hosts"]["HV01"]["settings"]["performance_option"] = "SMB"
    hosts_file(s).write_text(json.dumps(data), encoding="utf-8")
    result = s.hosts.move_vm("APP01", "HV01", "HV02.contoso.local", what_if=True)
    assert not result.ok and "0x8009030E" in result.error
    assert s.hosts.move_vm("APP01", "HV01", "HV02", what_if=True).ok  # addressed by short name: cifs/HV02 is there


def test_a_move_asks_for_the_spns_of_the_name_it_is_addressed_by(lab_session):
    """The KDC grants only the exact SPN: with HV02's FQDN values only, a move to HV02 fails and one to
    HV02.contoso.local works (scenario fqdn-only)."""
    s = lab_session("fqdn-only")
    short = s.hosts.move_vm("APP01", "HV01", "HV02", what_if=True)
    assert not short.ok and "0x8009030E" in short.error
    assert s.hosts.move_vm("APP01", "HV01", "HV02.contoso.local", what_if=True).ok


def test_rbcd_on_the_destination_lets_the_move_through(lab_session):
    s = lab_session("rbcd")
    assert s.hosts.move_vm("APP01", "HV01", "HV02", what_if=True).ok
    s.directory._modify(dn("HV02"), {"msDS-AllowedToActOnBehalfOfOtherIdentity": [(MODIFY_REPLACE, [])]})
    result = s.hosts.move_vm("APP01", "HV01", "HV02", what_if=True)
    assert not result.ok and "0x8009030E" in result.error


def test_credssp_on_both_ends_still_fails_from_a_remote_session(lab_session):
    s = lab_session("healthy")
    for host in ("HV01", "HV02"):
        s.hosts.set_auth_type(host, AuthType.CREDSSP)
    result = s.hosts.move_vm("APP01", "HV01", "HV02", what_if=True)
    assert not result.ok and "0x8009030E" in result.error


def test_run_test_move_preflight_live_and_verify(lab_session):
    s = lab_session("healthy")
    steps: list[str] = []
    progress: list[MoveProgress] = []
    result = run_test_move(s.hosts, MoveRequest(vm="APP01", destination="hv02"), ["HV01", "HV02", "HV03", "HV04"],
                           progress=progress.append, step=steps.append)
    assert result.ok and result.verified and result.source == "HV01" and result.destination == "HV02"
    assert steps[0].startswith("Pre-flight: Move-VM -Name APP01 -ComputerName HV01 -DestinationHost HV02 -WhatIf")
    assert any("Get-VM -ComputerName HV02 -Name APP01" in x for x in steps)
    assert progress[-1].percent == 100
    # what-if only on a broken scenario: stops at the pre-flight
    s2 = lab_session("seed")
    result = run_test_move(s2.hosts, MoveRequest(vm="APP01", destination="HV02", what_if_only=True), ["HV01", "HV02"])
    assert not result.ok and result.what_if and result.cause == "kcd-missing-or-kerberos-only"
    with pytest.raises(MigrationError, match="already on HV01"):
        run_test_move(s2.hosts, MoveRequest(vm="APP01", destination="HV01"), ["HV01", "HV02"])
    with pytest.raises(MigrationError, match="not found"):
        run_test_move(s2.hosts, MoveRequest(vm="NOPE", destination="HV02"), ["HV01", "HV02"])


# --- unreachable hosts ----------------------------------------------------------------------


def test_unreachable_host_report_and_others_unaffected(lab_session):
    s = lab_session("healthy")
    set_reachable(s, "HV03", False)
    report = s.hosts.host_report("HV03")
    assert report.reachable is False and report.settings is None and "WinRM" in report.error
    assert s.hosts.host_report("HV01").reachable is True
    nodes = {n.name: n.state for n in s.hosts.cluster_nodes()}
    assert nodes == {"HV01": "Up", "HV02": "Up", "HV03": "Down", "HV04": "Up"}
    findings = diagnose(take_snapshot(s.directory, s.hosts, s.cluster))
    assert [f.id for f in findings] == ["host.unreachable:HV03:-"]
    # moves between reachable hosts still work; moves involving HV03 fail clearly
    assert s.hosts.move_vm("APP01", "HV01", "HV02").ok
    with pytest.raises(HostUnreachable):
        s.hosts.move_vm("APP02", "HV01", "HV03")
    with pytest.raises(HostUnreachable):
        s.hosts.set_auth_type("HV03", AuthType.CREDSSP)
    with pytest.raises(HostUnreachable):
        s.hosts.purge_tickets("HV03")
    result = run_test_move(s.hosts, MoveRequest(vm="APP02", source="HV01", destination="HV03"), ["HV01"])
    assert not result.ok and "HV03" in result.error
    set_reachable(s, "HV03", True)
    assert s.hosts.host_report("HV03").reachable


def test_unknown_host_is_unreachable_not_a_crash(lab_session):
    s = lab_session("healthy")
    report = s.hosts.host_report("HV99")
    assert report.reachable is False and report.name == "HV99" and "no such host" in report.error


def test_no_reachable_host_at_all(lab_session):
    s = lab_session("healthy")
    for host in ("HV01", "HV02", "HV03", "HV04"):
        set_reachable(s, host, False)
    with pytest.raises(InventoryError, match="cannot list cluster nodes"):
        take_snapshot(s.directory, s.hosts, s.cluster)
    # with configured nodes the inventory still runs and reports every host as unreachable
    snap = take_snapshot(s.directory, s.hosts, s.cluster, configured_nodes=["hv01", "hv02"])
    assert [n.name for n in snap.nodes] == ["HV01", "HV02"]
    assert {f.code for f in diagnose(snap)} == {"host.unreachable"}


# --- the lab directory ----------------------------------------------------------------------


def test_lab_directory_maps_cifs_to_host_owners(lab_session):
    s = lab_session("duplicate-spn")
    owners = s.directory.find_spn_owners(["cifs/HV02.contoso.local", "HOST/HV02", "WSMAN/HV02"])
    assert owners == {"cifs/hv02.contoso.local": ("HV02", "HV02-OLD"), "host/hv02": ("HV02", "HV02-OLD"),
                      "wsman/hv02": ("HV02",)}


def test_lab_directory_reads_dns_records(lab_session):
    s = lab_session("stale-dns")
    records = s.directory.read_dns_records(["HV02", "HV03", "NOPE"])
    assert sorted(r.address for r in records["HV02"]) == ["10.0.10.12", "10.0.10.13"]
    assert [r.address for r in records["HV03"]] == ["10.0.10.13"]
    assert records["NOPE"] == ()


def test_lab_writes_persist_across_sessions(lab_session, tmp_path):
    s = lab_session("seed", lab_dir=tmp_path / "shared")
    s.directory.add_values(dn("HV01"), "msDS-AllowedToDelegateTo", ["cifs/FS01"])
    directory, hosts, journal = manage.open_lab(tmp_path / "shared", step_delay=0)
    assert "cifs/FS01" in directory.read_values(dn("HV01"), "msDS-AllowedToDelegateTo")
    assert LabStore(tmp_path / "shared").scenario() == "seed"


def test_unknown_scenario(tmp_path):
    with pytest.raises(KeyError, match="unknown scenario"):
        manage.reset(tmp_path / "lab", "nope")


def test_reset_clears_the_old_scenarios_journal_move_log_and_walkthrough(tmp_path: Path) -> None:
    from lmdoctor.services.operations import session as sessions
    from lmdoctor.services.operations.walkthrough import StateStore, state_path
    from lmdoctor.services.storage import move_log as moves

    lab_dir = tmp_path / "lab"
    session = sessions.open_demo(lab_dir, step_delay=0)
    request = MoveRequest(vm="APP01", source="HV01", destination="HV02", what_if_only=True)
    moves.record(session.journal, run_test_move(session.hosts, request, ["HV01", "HV02"]))
    state_path(session).write_text("{}", encoding="utf-8")
    leftovers = [moves.log_path(session.journal), state_path(session)]
    assert all(p.exists() for p in leftovers)

    manage.reset(lab_dir, "seed")

    assert [p for p in leftovers if p.exists()] == []
    assert StateStore(state_path(session)).load() is None
    assert not (lab_dir / manage.JOURNAL_FILE).exists()
