"""The HostGateway contract, run against the lab gateway and against the pypsrp gateway on the wire.

The pypsrp variant talks WinRM/PSRP over HTTPS to one loopback endpoint per lab host; each endpoint
dispatches the commands it receives to the same lab host model the lab gateway uses, so both
variants must give the same answers from the same lab directory.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from lmdoctor.services.backends.hosts.base import HostError, HostGateway
from lmdoctor.services.backends.lab.directory import LabDirectory
from lmdoctor.services.backends.lab.hosts import LabHostGateway
from lmdoctor.services.backends.lab.state import LabStore
from lmdoctor.services.domain.diagnosis import diagnose
from lmdoctor.services.domain.models import AuthType, MoveProgress
from lmdoctor.services.operations import lab_admin as manage
from lmdoctor.services.operations.inventory import take_snapshot
from lmdoctor.services.operations.remediation import Remediator
from lmdoctor.services.storage.journal import Journal
from tests.psrp.endpoint.lab_cluster import LabCluster

NO_CREDENTIALS = "No credentials are available in the security package (0x8009030E)."


@dataclass
class Rig:
    """A gateway under test and the lab directory behind it."""

    kind: str
    gateway: HostGateway
    lab_dir: Path
    cluster: LabCluster | None = None

    @property
    def store(self) -> LabStore:
        return LabStore(self.lab_dir)

    def directory(self) -> LabDirectory:
        """The lab directory to write fixes through (the lab gateway's own instance: it caches entries)."""
        return self.gateway.directory if isinstance(self.gateway, LabHostGateway) else LabDirectory(self.store)


@pytest.fixture(params=["lab", pytest.param("psrp", marks=pytest.mark.psrp)])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    lab_dir = tmp_path / "lab"
    manage.reset(lab_dir, "seed")
    if request.param == "lab":
        store = LabStore(lab_dir)
        gateway = LabHostGateway(store, LabDirectory(store), step_delay=0.02)
        yield Rig("lab", gateway, lab_dir)
        gateway.close()
        return
    with LabCluster(lab_dir) as cluster:
        yield Rig("psrp", cluster.gateway(), lab_dir, cluster)


def test_cluster_nodes(rig: Rig) -> None:
    nodes = rig.gateway.cluster_nodes()
    assert [(n.name, n.state) for n in nodes] == [(h, "Up") for h in ("HV01", "HV02", "HV03", "HV04")]


def test_host_report_fields(rig: Rig) -> None:
    lab = rig.store.load_hosts().hosts["HV01"]
    report = rig.gateway.host_report("HV01")
    assert report.reachable and report.error is None and report.name == "HV01"
    assert report.settings == lab.settings
    assert [v.name for v in report.vms] == ["APP01", "APP02"] and {v.host for v in report.vms} == {"HV01"}
    assert set(report.addresses) == set(lab.addresses)
    # klist prints whole seconds of local time; the gateway turns them back into UTC.
    assert abs(report.tickets_issued - lab.tickets.issued) < timedelta(seconds=1)


def test_host_report_drain_facts(rig: Rig) -> None:
    """Free memory, processor, supported versions and each VM's memory, version, compatibility mode and
    clustering arrive the same over both gateways (the endpoint answers Get-VM, Get-VMProcessor,
    Get-VMHostSupportedVersion and Get-CimInstance as Windows shapes them)."""
    hosts = rig.store.load_hosts()
    lab = hosts.hosts["HV01"]
    lab.vms[0] = lab.vms[0].model_copy(update={"processor_compatibility": True})
    rig.store.save_hosts(hosts)
    report = rig.gateway.host_report("HV01")
    assert (report.memory_free, report.processor, report.supported_versions) == \
        (lab.memory_free, lab.processor, tuple(lab.supported_versions))
    # paths aside: the PSRP endpoint gives a VM without lab paths a default home (the VM path tests cover paths)
    assert [v.model_dump(exclude={"paths"}) for v in report.vms] == [v.model_dump(exclude={"paths"}) for v in lab.vms]
    assert report.vms[0].processor_compatibility and report.vms[0].memory_assigned == 8 << 30
    assert report.vms[0].clustered and not report.vms[1].clustered


def test_events_classified_newest_first(rig: Rig) -> None:
    report = rig.gateway.host_report("HV01")
    errors = [e for e in report.events if e.level == "Error"]
    assert {e.event_id for e in errors} == {20306, 21024, 21502}
    assert {e.log for e in errors} == {"Microsoft-Windows-Hyper-V-VMMS-Admin",
                                       "Microsoft-Windows-Hyper-V-High-Availability-Admin"}
    assert {e.cause for e in errors} == {"kcd-missing-or-kerberos-only"}
    times = [e.time for e in report.events]
    assert times == sorted(times, reverse=True) and all(t.tzinfo is not None for t in times)
    assert len(report.events) <= 60


def test_set_auth_type(rig: Rig) -> None:
    rig.gateway.set_auth_type("HV03", AuthType.CREDSSP)
    assert rig.store.load_hosts().hosts["HV03"].settings.auth_type == AuthType.CREDSSP
    assert rig.gateway.host_report("HV03").settings.auth_type == AuthType.CREDSSP
    rig.gateway.set_auth_type("HV03", AuthType.KERBEROS)
    assert rig.gateway.host_report("HV03").settings.auth_type == AuthType.KERBEROS


def test_enable_and_disable_migration(rig: Rig) -> None:
    rig.gateway.set_migration_enabled("HV04", False)
    assert rig.gateway.host_report("HV04").settings.migration_enabled is False
    assert rig.store.load_hosts().hosts["HV04"].settings.migration_enabled is False
    rig.gateway.set_migration_enabled("HV04", True)
    assert rig.gateway.host_report("HV04").settings.migration_enabled is True


def test_purge_tickets(rig: Rig) -> None:
    before = rig.gateway.host_report("HV01").tickets_issued
    rig.gateway.purge_tickets("HV01")
    after = rig.gateway.host_report("HV01").tickets_issued
    assert after > before
    assert abs(after - datetime.now(timezone.utc)) < timedelta(seconds=30)


def test_move_what_if_fails_before_the_fix_with_the_real_error(rig: Rig) -> None:
    result = rig.gateway.move_vm("APP01", "HV01", "HV02", what_if=True)
    assert not result.ok and result.what_if
    assert result.error.startswith("Virtual machine migration operation for 'APP01' failed at migration source 'HV01'.")
    assert result.error.endswith(NO_CREDENTIALS)
    assert result.cause == "kcd-missing-or-kerberos-only"
    assert rig.gateway.get_vm("HV01", "APP01") is not None  # nothing moved


def test_live_move_streams_progress_and_succeeds_after_the_fix(rig: Rig, tmp_path: Path) -> None:
    directory = rig.directory()
    findings = diagnose(take_snapshot(directory, rig.gateway, "HVCLUSTER"))
    plans = [f.fix for f in findings if f.code == "delegation.missing" and f.fix]
    assert plans, [f.code for f in findings]
    remediator = Remediator(directory, rig.gateway, Journal(tmp_path / "journal.jsonl"))
    previews = [p for plan in plans for p in remediator.preview(plan)]
    outcome = remediator.apply(previews, "CHG-1 contract test", ["HV01"])
    assert outcome.ok and outcome.purged == ["HV01"]
    assert rig.gateway.move_vm("APP01", "HV01", "HV02", what_if=True).ok

    seen: list[tuple[float, MoveProgress]] = []
    result = rig.gateway.move_vm("APP01", "HV01", "HV02", progress=lambda p: seen.append((time.monotonic(), p)))
    returned = time.monotonic()
    assert result.ok and not result.what_if and result.error is None
    percents = [p.percent for _, p in seen]
    assert percents == sorted(percents) and percents[0] == 0 and percents[-1] == 100 and len(percents) >= 5
    assert seen[0][0] < returned - 0.1  # the first record arrived while the move was still running
    assert all("APP01" in p.activity for _, p in seen)
    assert rig.gateway.get_vm("HV02", "APP01") is not None
    assert rig.gateway.get_vm("HV01", "APP01") is None
    if rig.cluster is not None:  # progress reached the client in several Receives, not all at the end
        hv01 = rig.cluster.endpoints["HV01"]
        carrying = [r for r in hv01.requests if r.action == "Receive" and "ProgressRecord" in r.sent]
        assert len(carrying) >= 3


def test_get_vm_verifies(rig: Rig) -> None:
    vm = rig.gateway.get_vm("HV02", "SQL01")
    assert vm is not None and vm.name == "SQL01" and vm.host == "HV02" and vm.state == "Running"
    assert rig.gateway.get_vm("HV02", "sql01") is not None
    assert rig.gateway.get_vm("HV02", "NOSUCHVM") is None


def test_move_of_an_unknown_vm_is_a_host_error(rig: Rig) -> None:
    with pytest.raises(HostError, match="unable to find a virtual machine"):
        rig.gateway.move_vm("NOSUCHVM", "HV01", "HV02", what_if=True)


def test_compare_vm_reports_what_the_destination_lacks(rig: Rig) -> None:
    state = rig.store.load_hosts()
    state.hosts["HV03"].switches = ["Storage"]  # APP01's adapter is on LAN
    state.hosts["HV03"].supported_versions = ["8.0"]
    rig.store.save_hosts(state)
    found = rig.gateway.compare_vm("APP01", "HV01", "HV03")
    assert [(i.message_id, i.message) for i in found] == [
        (33012, "Could not find Ethernet switch 'LAN'."),
        (14420, "The virtual machine 'APP01' has configuration version 9.0, which host 'HV03' does not support.")]
    assert rig.gateway.compare_vm("APP01", "HV01", "HV04") == ()
    with pytest.raises(HostError, match=r"0x8009030E"):  # the seed: HV01 may not delegate to HV02
        rig.gateway.compare_vm("APP01", "HV01", "HV02")
    with pytest.raises(HostError, match="unable to find a virtual machine"):
        rig.gateway.compare_vm("NOSUCHVM", "HV01", "HV03")
