"""Where a VM's files are, over PSRP: Get-VM and one Get-VMHardDiskDrive pipeline per host, against the
loopback endpoint on the smb-storage lab (the rules on those paths are proved in tests/test_storage.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmdoctor.services.backends.lab.directory import LabDirectory
from lmdoctor.services.backends.lab.state import LabStore
from lmdoctor.services.domain.diagnosis import diagnose
from lmdoctor.services.operations import lab_admin as manage
from lmdoctor.services.operations.inventory import take_snapshot
from tests.psrp.endpoint.lab_cluster import LabCluster

pytestmark = pytest.mark.psrp


def test_vm_paths_come_over_psrp_from_get_vm_and_a_get_vmharddiskdrive_pipeline(tmp_path: Path) -> None:
    lab_dir = tmp_path / "lab"
    manage.reset(lab_dir, "smb-storage")
    with LabCluster(lab_dir) as cluster:
        snap = take_snapshot(LabDirectory(LabStore(lab_dir)), cluster.gateway(timeout_s=5), "HVCLUSTER")
        pipeline = [c for c in cluster.received("HV01") if c.name == "Get-VMHardDiskDrive"]
    app01 = next(vm for vm in snap.node("HV01").host.vms if vm.name == "APP01")
    assert app01.paths == ("\\\\FS01\\VMs\\APP01", "\\\\FS01\\VMs\\APP01\\APP01.vhdx")
    assert len(pipeline) == 1 and pipeline[0].parameters == {} and not pipeline[0].is_script
    assert {f.id for f in diagnose(snap) if f.code == "storage.smb_delegation"} == {
        f"storage.smb_delegation:HV0{i}:FS01" for i in range(1, 5)}
