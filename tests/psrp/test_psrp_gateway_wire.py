"""The pypsrp host gateway on the wire: literal parameters, pool reuse, faults, and a full inventory."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lmdoctor.services.backends.hosts import psobjects
from lmdoctor.services.backends.hosts.base import CommandMissing, HostError, HostUnreachable
from lmdoctor.services.backends.hosts.psrp import PsrpHostGateway, WinRMSettings
from lmdoctor.services.backends.lab.directory import LabDirectory
from lmdoctor.services.backends.lab.state import LabStore
from lmdoctor.services.domain import drain
from lmdoctor.services.domain.diagnosis import diagnose
from lmdoctor.services.domain.models import AuthType
from lmdoctor.services.operations import drain_preflight
from lmdoctor.services.operations import lab_admin as manage
from lmdoctor.services.operations.inventory import take_snapshot
from lmdoctor.services.storage.profiles import Profile
from tests.psrp.endpoint import Error, make_pki
from tests.psrp.endpoint.lab_cluster import LabCluster

pytestmark = pytest.mark.psrp

HOSTILE = [
    "APP01' ; Stop-Computer -Force; '",
    'APP01" -Force "',
    "APP01; Remove-Item C:\\ -Recurse",
    "$(Stop-Computer -Force)",
    "`$env:COMPUTERNAME`n",
    "@(1,2) | % { $_ }",
    "<Obj RefId=\"0\"/>&amp;",
]

ACCESS_DENIED = ("You do not have the required permission to complete this task. Contact the administrator of the "
                 "authorization policy for the computer 'HV03'.")


def _only(received: list, name: str):
    matching = [c for c in received if c.name == name]
    assert len(matching) == 1, [c.name for c in received]
    return matching[0]


# --- values travel as literal parameters ------------------------------------------------

@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_vm_name_arrives_as_a_literal_parameter(cluster: LabCluster, name: str) -> None:
    gateway = cluster.gateway()
    with pytest.raises(HostError, match="unable to find a virtual machine"):
        gateway.move_vm(name, "HV01", "HV02", what_if=True)
    assert gateway.get_vm("HV02", name) is None

    move = _only(cluster.received("HV01"), "Move-VM")
    assert move.parameters == {"Name": name, "DestinationHost": "HV02", "WhatIf": True, "ErrorAction": "Stop"}
    assert move.arguments == [] and not move.is_script
    get = _only(cluster.received("HV02"), "Get-VM")
    assert get.parameters == {"ComputerName": "HV02", "Name": name} and not get.is_script
    assert {vm.name for vm in LabStore(cluster.lab_dir).load_hosts().hosts["HV01"].vms} == {"APP01", "APP02"}


@pytest.mark.parametrize("destination", HOSTILE[:4])
def test_hostile_destination_arrives_as_a_literal_parameter(cluster: LabCluster, destination: str) -> None:
    result = cluster.gateway().move_vm("APP01", "HV01", destination, what_if=True)
    assert not result.ok and "no such host" in result.error
    move = _only(cluster.received("HV01"), "Move-VM")
    assert move.parameters["DestinationHost"] == destination and move.parameters["Name"] == "APP01"


def test_every_command_is_a_cmdlet_with_parameters(cluster: LabCluster) -> None:
    gateway = cluster.gateway()
    gateway.host_report("HV01")
    gateway.set_auth_type("HV01", AuthType.KERBEROS)
    gateway.set_migration_enabled("HV01", True)
    gateway.purge_tickets("HV01")
    received = cluster.received("HV01")
    assert [c.name for c in received] == ["Get-VMHost", "Get-VMMigrationNetwork", "Get-VMProcessor", "Get-VM",
                                          "Get-VMHardDiskDrive", "Get-VM", "Get-WinEvent",
                                          "Get-NetIPAddress", "Get-Date", "klist.exe",
                                          "Get-CimInstance", "Get-CimInstance", "Get-VMHostSupportedVersion",
                                          "Set-VMHost", "Enable-VMMigration", "Get-Date", "klist.exe", "klist.exe"]
    assert not any(c.is_script for c in received)
    assert received[2].parameters == {"VMName": "*"}
    assert (received[3].parameters, received[4].parameters) == ({}, {})  # the pipeline Get-VM | Get-VMHardDiskDrive
    assert [received[i].parameters for i in (10, 11)] == [{"ClassName": "Win32_OperatingSystem"},
                                                          {"ClassName": "Win32_Processor"}]
    received = received[:2] + received[5:10] + received[13:]  # the pipeline and drain facts checked; the rest as before
    events = received[3]
    assert events.parameters == {"FilterHashtable": {"LogName": ["Microsoft-Windows-Hyper-V-VMMS-Admin",
                                                                 "Microsoft-Windows-Hyper-V-High-Availability-Admin"],
                                                     "Level": [1, 2, 3]},
                                 "MaxEvents": 60}
    assert received[6].arguments == ["-li", "0x3e7"]
    assert received[7].parameters == {"VirtualMachineMigrationAuthenticationType": "Kerberos", "ErrorAction": "Stop"}
    assert received[10].arguments == ["purge", "-li", "0x3e7"]
    assert received[11].arguments == ["-li", "0x3e7"]  # the purge is confirmed by reading the tickets back


# --- one runspace pool per host, reused and closed ------------------------------------

def test_one_pool_per_host_reused_and_closed(cluster: LabCluster) -> None:
    gateway = cluster.gateway()
    with ThreadPoolExecutor(max_workers=6) as pool:
        reports = list(pool.map(gateway.host_report, ["HV01", "HV02"] * 3))
    assert all(r.reachable for r in reports)
    for host in ("HV01", "HV02"):
        assert cluster.endpoints[host].actions.count("Create") == 1
    gateway.close()
    for host in ("HV01", "HV02"):
        actions = cluster.endpoints[host].actions
        assert actions[-1] == "Delete" and actions.count("Delete") == 1
    assert cluster.endpoints["HV03"].actions == []  # never asked, never connected


def test_sent_and_received_psrp_messages(cluster: LabCluster) -> None:
    gateway = cluster.gateway()
    gateway.get_vm("HV02", "SQL01")
    gateway.close()
    endpoint = cluster.endpoints["HV02"]
    assert endpoint.actions[:2] == ["Create", "Receive"] and {"Command", "Signal"} <= set(endpoint.actions)
    assert endpoint.received_messages() == ["SessionCapability", "InitRunspacePool", "CreatePipeline"]
    sent = endpoint.sent_messages()
    assert sent[:3] == ["SessionCapability", "ApplicationPrivateData", "RunspacePoolState"]
    assert "PipelineOutput" in sent and sent[-1] == "PipelineState"


# --- faults ------------------------------------------------------------------------------

TIMEOUT_S = 1.0  # operation timeout 1 s, read timeout 2 s


def _fault(cluster: LabCluster, kind: str) -> None:
    if kind == "error_record":
        cluster.handlers["HV03"].failures["Get-VMHost"] = Error(
            ACCESS_DENIED, "AccessDenied,Microsoft.HyperV.PowerShell.Commands.GetVMHost", category="PermissionDenied",
            exception_type="Microsoft.HyperV.PowerShell.VirtualizationException", terminating=True)
    else:
        cluster.endpoints["HV03"].fault = kind


EXPECTED = {
    "hang": "WinRM did not answer within 2 s",
    "drop_mid_receive": "HV03: WinRM connection failed",
    "http_401": "HV03: WinRM refused the credentials",
    "http_500": "HV03: WinRM answered HTTP 500",
    "error_record": f"HV03: Get-VMHost: {ACCESS_DENIED}",
}


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_fault_gives_an_unreachable_report_within_the_bound(cluster: LabCluster, kind: str) -> None:
    gateway = cluster.gateway(timeout_s=TIMEOUT_S)
    _fault(cluster, kind)
    started = time.monotonic()
    report = gateway.host_report("HV03")
    elapsed = time.monotonic() - started
    assert not report.reachable and report.settings is None
    assert EXPECTED[kind] in report.error
    assert elapsed < 4, elapsed


def test_hang_on_an_open_pool_times_out_and_the_host_recovers(cluster: LabCluster) -> None:
    gateway = cluster.gateway(timeout_s=TIMEOUT_S)
    assert gateway.host_report("HV03").reachable  # the pool is open
    cluster.endpoints["HV03"].fault = "hang"
    started = time.monotonic()
    with pytest.raises(HostUnreachable, match="did not answer"):
        gateway.set_auth_type("HV03", AuthType.CREDSSP)
    assert time.monotonic() - started < 4
    cluster.endpoints["HV03"].fault = None
    assert gateway.host_report("HV03").reachable  # a fresh pool
    assert cluster.endpoints["HV03"].actions.count("Create") == 2


def test_a_shell_discarded_by_the_host_is_reopened_once(cluster: LabCluster) -> None:
    gateway = cluster.gateway()
    assert gateway.host_report("HV01").reachable
    cluster.endpoints["HV01"].discard_shells()  # idle timeout / WinRM restart on the host
    gateway.set_auth_type("HV01", AuthType.CREDSSP)
    assert LabStore(cluster.lab_dir).load_hosts().hosts["HV01"].settings.auth_type == AuthType.CREDSSP
    assert [c.name for c in cluster.received("HV01")].count("Set-VMHost") == 1
    actions = cluster.endpoints["HV01"].actions
    assert actions.count("Create") == 2 and [r.status for r in cluster.endpoints["HV01"].requests].count(500) == 1


def test_error_record_of_a_write_is_a_host_error_with_the_hosts_text(cluster: LabCluster) -> None:
    cluster.handlers["HV03"].failures["Set-VMHost"] = Error(
        ACCESS_DENIED, "AccessDenied,Microsoft.HyperV.PowerShell.Commands.SetVMHost", category="PermissionDenied",
        exception_type="Microsoft.HyperV.PowerShell.VirtualizationException", terminating=True)
    with pytest.raises(HostError) as caught:
        cluster.gateway().set_auth_type("HV03", AuthType.CREDSSP)
    assert str(caught.value) == f"HV03: Set-VMHost: {ACCESS_DENIED}"
    assert not isinstance(caught.value, HostUnreachable)


def test_wrong_password_and_untrusted_ca_are_unreachable(cluster: LabCluster, tmp_path: Path) -> None:
    report = cluster.gateway(password="wrong").host_report("HV01")
    assert not report.reachable and "refused the credentials" in report.error
    other_ca = make_pki(tmp_path / "other", name="someone else's CA").ca_file
    settings = WinRMSettings(transport="https", auth="basic", username="x", password="y",
                             cert_validation=str(other_ca), timeout_s=2, domain="contoso.local")
    report = PsrpHostGateway(settings, resolve=cluster.resolve).host_report("HV01")
    assert not report.reachable and "TLS failed" in report.error
    assert cluster.endpoints["HV01"].requests[-1].status == 401  # the bad CA never got to send a request


def test_no_seed_answers_get_cluster_node(cluster: LabCluster) -> None:
    for endpoint in cluster.endpoints.values():
        endpoint.fault = "http_500"
    with pytest.raises(HostUnreachable, match="no cluster node answered Get-ClusterNode"):
        cluster.gateway(timeout_s=TIMEOUT_S).cluster_nodes()


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_inventory_with_one_faulty_host(cluster: LabCluster, kind: str) -> None:
    gateway = cluster.gateway(timeout_s=TIMEOUT_S)
    _fault(cluster, kind)
    started = time.monotonic()
    snapshot = take_snapshot(LabDirectory(LabStore(cluster.lab_dir)), gateway, "HVCLUSTER")
    assert time.monotonic() - started < 6
    by_name = {n.name: n for n in snapshot.nodes}
    assert not by_name["HV03"].host.reachable and EXPECTED[kind] in by_name["HV03"].host.error
    assert all(by_name[h].host.reachable and by_name[h].host.settings for h in ("HV01", "HV02", "HV04"))
    findings = diagnose(snapshot)
    unreachable = [f for f in findings if f.code == "host.unreachable"]
    assert [f.source for f in unreachable] == ["HV03"] and EXPECTED[kind] in unreachable[0].evidence[0]
    assert any(f.code == "delegation.missing" and f.source == "HV01" for f in findings)


# --- settings from a profile ------------------------------------------------------------

def _profile(**fields) -> Profile:
    base = dict(name="prod", domain="contoso.local", dc="dc01.contoso.local", bind_user="admin@contoso.local",
                cluster="hvcluster", nodes=("hv01", "hv02"))
    return Profile(**{**base, **fields})


def test_from_profile_defaults_validate_certificates() -> None:
    gateway = PsrpHostGateway.from_profile(_profile(winrm_auth="kerberos"), None)
    kwargs = gateway.settings.wsman_kwargs("HV01")
    assert kwargs["server"] == "HV01.contoso.local" and kwargs["ssl"] is True and kwargs["cert_validation"] is True
    assert kwargs["auth"] == "kerberos" and kwargs["username"] is None and kwargs["password"] is None
    assert (kwargs["operation_timeout"], kwargs["read_timeout"], kwargs["connection_timeout"]) == (15, 23, 15)
    assert gateway.seeds == ("HV01", "HV02", "HVCLUSTER")


def test_from_profile_with_a_ca_file_http_and_basic(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    gateway = PsrpHostGateway.from_profile(_profile(winrm_auth="basic", winrm_user="ops@contoso.local",
                                                    winrm_ca_file=ca, winrm_port=15986, timeout_s=4), "pw")
    kwargs = gateway.settings.wsman_kwargs("hv02")
    assert kwargs["cert_validation"] == str(ca) and kwargs["port"] == 15986
    assert (kwargs["username"], kwargs["password"]) == ("ops@contoso.local", "pw")
    assert "pw" not in repr(gateway.settings)
    http = PsrpHostGateway.from_profile(_profile(winrm_transport="http", winrm_auth="negotiate"), "pw")
    assert http.settings.wsman_kwargs("HV01")["ssl"] is False and http.settings.wsman_kwargs("HV01")["encryption"] == "auto"
    with pytest.raises(HostError, match="Basic authentication over HTTP"):
        PsrpHostGateway.from_profile(_profile(winrm_transport="http", winrm_auth="basic"), "pw")
    with pytest.raises(HostError, match="needs a user name and a password"):
        PsrpHostGateway.from_profile(_profile(winrm_auth="credssp"), None)


def test_host_clock_comes_from_the_inventory_get_date_and_skew_is_found(tmp_path: Path) -> None:
    """The clock is read from the Get-Date the report already sends (no extra command); a host 7½ minutes
    ahead of the DC becomes a clock.skew finding over the wire."""
    lab_dir = tmp_path / "lab"
    manage.reset(lab_dir, "clock-skew")
    with LabCluster(lab_dir) as skewed:
        snapshot = take_snapshot(LabDirectory(LabStore(lab_dir)), skewed.gateway(timeout_s=TIMEOUT_S), "HVCLUSTER")
        assert [c.name for c in skewed.received("HV02")].count("Get-Date") == 1
    offsets = {n.name: n.host.clock_offset_s for n in snapshot.nodes}
    assert 445 < offsets["HV02"] < 455, offsets  # Get-Date carries milliseconds; the call takes some
    assert all(abs(offsets[h]) < 5 for h in ("HV01", "HV03", "HV04")), offsets
    skew = [f for f in diagnose(snapshot) if f.code == "clock.skew"]
    assert [(f.source, f.severity.value) for f in skew] == [("HV02", "error")]
    assert "7 min" in skew[0].message and "+45" in skew[0].evidence[2]


# --- Compare-VM: the drain's pre-flight -------------------------------------------------------------------

def test_compare_vm_is_a_pipeline_of_two_cmdlets_with_literal_parameters(cluster: LabCluster) -> None:
    state = LabStore(cluster.lab_dir).load_hosts()
    state.hosts["HV01"].vm_switches = {"APP01": ["Production"]}
    LabStore(cluster.lab_dir).save_hosts(state)
    (found,) = cluster.gateway().compare_vm("APP01", "HV01", "HV03")
    assert (found.message_id, found.message) == (33012, "Could not find Ethernet switch 'Production'.")
    assert found.source.startswith("VMNetworkAdapter")
    compare = _only(cluster.received("HV01"), "Compare-VM")
    select = _only(cluster.received("HV01"), "Select-Object")
    assert compare.parameters == {"Name": "APP01", "DestinationHost": "HV03"}
    assert select.parameters == {"ExpandProperty": "Incompatibilities"}
    assert not compare.is_script and not select.is_script
    assert cluster.gateway().compare_vm("APP02", "HV01", "HV03") == ()  # none: the expansion yields nothing


@pytest.mark.parametrize("name", HOSTILE[:3])
def test_hostile_vm_name_reaches_compare_vm_as_a_literal(cluster: LabCluster, name: str) -> None:
    with pytest.raises(HostError, match="unable to find a virtual machine"):
        cluster.gateway().compare_vm(name, "HV01", "HV03")
    assert _only(cluster.received("HV01"), "Compare-VM").parameters["Name"] == name


def test_the_report_object_is_read_with_a_null_or_a_filled_list(cluster: LabCluster) -> None:
    """Compare-VM's own VMCompatibilityReport (no expansion): Incompatibilities null when compatible."""
    gateway = cluster.gateway()
    compatible = gateway._call("HV01", "Compare-VM", Name="APP02", DestinationHost="HV03")
    assert len(compatible) == 1 and psobjects.props(compatible[0])["Incompatibilities"] is None
    assert psobjects.incompatibilities(compatible) == ()
    state = LabStore(cluster.lab_dir).load_hosts()
    state.hosts["HV03"].switches = ["Storage"]
    LabStore(cluster.lab_dir).save_hosts(state)
    report = gateway._call("HV01", "Compare-VM", Name="APP02", DestinationHost="HV03")
    assert [(i.message_id, i.message) for i in psobjects.incompatibilities(report)] == [
        (33012, "Could not find Ethernet switch 'LAN'.")]


def test_refused_comparison_is_a_host_error_with_the_hosts_text(cluster: LabCluster) -> None:
    with pytest.raises(HostError) as caught:  # seed: HV01 may not delegate to HV02
        cluster.gateway().compare_vm("APP01", "HV01", "HV02")
    assert str(caught.value).endswith("(0x8009030E).") and not isinstance(caught.value, CommandMissing)


def test_a_host_without_compare_vm_falls_back_to_move_vm_what_if(cluster: LabCluster) -> None:
    """HV03's clock is 10 minutes off: a move to it is refused, which lmdoctor's planner cannot tell but the
    host can (HV02 the planner rules out itself: HV01 may not delegate to it, so it is not asked)."""
    state = LabStore(cluster.lab_dir).load_hosts()
    state.hosts["HV03"].clock_offset_s = 600
    LabStore(cluster.lab_dir).save_hosts(state)
    cluster.handlers["HV01"].failures["Compare-VM"] = Error(
        "The term 'Compare-VM' is not recognized as the name of a cmdlet, function, script file, or operable program.",
        "CommandNotFoundException", category="ObjectNotFound",
        exception_type="System.Management.Automation.CommandNotFoundException", terminating=True)
    gateway = cluster.gateway()
    with pytest.raises(CommandMissing):
        gateway.compare_vm("APP01", "HV01", "HV03")
    snapshot = take_snapshot(LabDirectory(LabStore(cluster.lab_dir)), gateway, "HVCLUSTER")
    collected = drain_preflight.collect(gateway, snapshot, "HV01")
    answers = collected.answers
    names = [c.name for c in cluster.received("HV01")]
    assert names.count("Compare-VM") == 2 and names.count("Move-VM") == 4  # asked once more, then -WhatIf only
    assert all(c.parameters.get("WhatIf") is True for c in cluster.received("HV01") if c.name == "Move-VM")
    assert collected.asked == {(vm, d): "Move-VM -WhatIf" for vm in ("APP01", "APP02") for d in ("HV03", "HV04")}
    assert {k: a.command for k, a in answers.items()} == {("APP01", "HV03"): "Move-VM -WhatIf",
                                                          ("APP02", "HV03"): "Move-VM -WhatIf"}
    assert answers[("APP01", "HV03")].words[0].message.endswith("(0x80090324).")
    plan = drain.plan(snapshot, "HV01", answers)
    assert plan.drainable and {p.destination for p in plan.placements} == {"HV04"}
