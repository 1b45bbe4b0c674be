"""VM storage on an SMB share, on a real Samba AD DC: APP01's files live on \\\\FS01\\VMs, so a move needs
cifs/FS01 in the source's and the destination's delegation. The KDC's S4U2Proxy verdicts (each host's keytab,
impersonating Administrator) decide the lab hosts' Move-VM: it fails, `fix --all` makes it work, and
`rollback` makes it fail again."""

from __future__ import annotations

import json

import pytest

from lmdoctor.cli import commands as cli
from tests.samba.harness import SambaDC
from tests.samba.scenarios import KdcAuthority, build_on_dc, use_lab_hosts

pytestmark = pytest.mark.samba

FS01 = ["cifs/FS01", "cifs/fs01.contoso.local"]


def run(dc: SambaDC, capsys, *argv: str) -> tuple[int, str]:
    with dc.inside():
        code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def granted(dc: SambaDC, keytab, spns: list[str]) -> list[bool]:
    return [dc.s4u_proxy(keytab, "HV01$", "Administrator", spn)[0] for spn in spns]


def test_a_vm_on_a_share_needs_cifs_of_the_file_server_on_both_hosts(
        fresh_dc, samba_profile, tmp_path, monkeypatch, capsys) -> None:
    dc = fresh_dc
    built = build_on_dc(dc, "smb-storage", tmp_path / "lab")
    assert "FS01" in built.computers
    kdc = KdcAuthority(dc, tmp_path)
    use_lab_hosts(built.lab_dir, monkeypatch, kdc)
    keytab = dc.export_keytab("HV01$", tmp_path / "HV01.keytab")
    assert granted(dc, keytab, ["cifs/HV02.contoso.local"]) == [True]  # the peers' delegation is in place
    assert granted(dc, keytab, FS01) == [False, False]  # the file server's is not

    code, text = run(dc, capsys, "migrate", "--profile", "samba", "--vm", "APP01", "--to", "HV02", "--json",
                     "--yes", "--reason", "CHG-1")
    assert code == 1 and "0x80070005" in text, text
    assert ("cifs/FS01", False) in [(spn, ok) for spn, ok, _ in kdc.asked], kdc.asked

    code, text = run(dc, capsys, "check", "--profile", "samba", "--json")
    found = {f["id"] for f in json.loads(text)["findings"] if f["code"] != "tickets.stale"}
    assert code == 1 and found == {f"storage.smb_delegation:HV0{i}:FS01" for i in range(1, 5)}, found

    code, text = run(dc, capsys, "fix", "--profile", "samba", "--all", "--reason", "CHG-11 SMB", "--yes", "--json")
    assert code == 0 and json.loads(text)["applied"] == 4, text
    assert granted(dc, keytab, FS01) == [True, True]  # the KDC's verdict after the fix
    kdc.asked.clear()
    code, text = run(dc, capsys, "migrate", "--profile", "samba", "--vm", "APP01", "--to", "HV02", "--json",
                     "--yes", "--reason", "CHG-1")
    assert code == 0, text
    asked = [(spn, ok) for spn, ok, _ in kdc.asked if spn == "cifs/FS01"]
    assert asked and all(ok for _spn, ok in asked), kdc.asked  # pre-flight and move, each for source and destination
    assert (tmp_path / "HV02.keytab").exists()  # the destination's own keytab was asked too

    code, text = run(dc, capsys, "rollback", "--profile", "samba", "--last", "--yes", "--reason", "CHG-11 back")
    assert code == 0, text
    assert granted(dc, keytab, FS01) == [False, False]
