"""VMs on SMB shares: file servers read from the VMs' paths, the rule, the matrix, and the paths over PSRP."""

from __future__ import annotations

import pytest

from lmdoctor.services.domain import vm_storage as storage
from lmdoctor.services.domain.diagnosis import diagnose
from lmdoctor.services.domain.models import Severity, VirtualMachine
from tests.support.snapshots import snapshot, with_account, with_host


@pytest.mark.parametrize("path, server", [
    ("\\\\FS01\\VMs\\APP01", "FS01"),
    ("\\\\fs01.contoso.local\\VMs\\APP01\\disk.vhdx", "fs01.contoso.local"),
    ("\\\\?\\UNC\\FS02\\share\\x.vhdx", "FS02"),
    ("C:\\ClusterStorage\\Volume1\\APP01", None),
    ("\\\\?\\C:\\VMs\\x.vhdx", None),
    ("\\\\.\\pipe\\x", None),
    ("\\\\", None),
])
def test_the_file_server_of_a_path(path: str, server: str | None) -> None:
    assert storage.file_server(path) == server


def test_cifs_targets_are_short_and_fqdn() -> None:
    assert storage.cifs_targets("fs01", "contoso.local") == ("cifs/FS01", "cifs/fs01.contoso.local")
    assert storage.cifs_targets("FS01.contoso.local", "contoso.local") == ("cifs/FS01", "cifs/fs01.contoso.local")


def on_share(snap, paths=("\\\\FS01\\VMs\\APP01", "\\\\FS01\\VMs\\APP01\\APP01.vhdx")):
    return with_host(snap, "HV01", vms=(VirtualMachine(name="APP01", host="HV01", paths=paths),))


def test_every_node_needs_the_file_servers_cifs_as_source_and_destination() -> None:
    findings = [f for f in diagnose(on_share(snapshot())) if f.code == "storage.smb_delegation"]
    assert sorted(f.id for f in findings) == [f"storage.smb_delegation:HV0{i}:FS01" for i in range(1, 5)]
    f = next(f for f in findings if f.source == "HV02")
    assert f.severity == Severity.ERROR and "APP01" in f.message
    assert f.fix.actions[0].values == ("cifs/FS01", "cifs/fs01.contoso.local") and f.fix.purge_hosts == ("HV02",)
    assert any("\\\\FS01\\VMs\\APP01" in e for e in f.evidence)


def test_a_node_with_the_short_form_only_fails_for_fqdn_paths_only() -> None:
    snap = with_account(on_share(snapshot()), "HV02", allowed_to_delegate_to=snapshot().node("HV02").account
                        .allowed_to_delegate_to + ("cifs/FS01",))
    hv02 = next(f for f in diagnose(snap) if f.id == "storage.smb_delegation:HV02:FS01")
    assert hv02.severity == Severity.WARNING and hv02.fix.actions[0].values == ("cifs/fs01.contoso.local",)
    local = on_share(snapshot(), paths=("C:\\ClusterStorage\\Volume1\\APP01",))
    assert not [f for f in diagnose(local) if f.code == "storage.smb_delegation"]
