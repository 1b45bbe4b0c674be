"""The operator's delegability, the DC's clock and encryption types, read from a real Samba AD DC and, where
Samba's KDC can judge, proved by its S4U2Self/S4U2Proxy verdicts and by the encryption type of the tickets
it issues.

What Samba 4.17 (Debian's Heimdal build) judges: an operator marked "Account is sensitive and cannot be
delegated" (0x100000) gets a non-forwardable S4U2Self ticket and S4U2Proxy is refused ("constrained
delegation failed"). A member of Protected Users is NOT refused by this KDC: Samba 4.17 does not apply
Protected Users' no-delegation rule. Windows KDCs do ("Cannot be delegated with unconstrained or constrained
delegation" — Protected Users restrictions, e.g. https://cloud.wikis.utexas.edu/wiki/spaces/activedirectory/pages/490112517/Protected+Users+Group,
and Microsoft's "Protected Users Security Group" article), so lmdoctor follows Windows' rule; here the DC
proves only that the membership, nested through a group, is read right (tokenGroups).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ldap3 import MODIFY_REPLACE

from lmdoctor.cli import commands as cli
from lmdoctor.services.backends.directory.connect import connect
from lmdoctor.services.backends.lab.scenarios import PROTECTED_USERS_DN, T0_ADMIN
from lmdoctor.services.backends.lab.state import LabStore
from lmdoctor.services.domain.models import UAC_NOT_DELEGATED
from lmdoctor.services.storage import credentials, profiles
from tests.samba.harness import ADMIN_PASSWORD, BASE_DN, SambaDC
from tests.samba.scenarios import build_on_dc, use_lab_hosts

pytestmark = pytest.mark.samba

OPS = "opsadmin"
OPS_UPN = f"{OPS}@contoso.local"
OPS_PASSWORD = "Ops-Passw0rd!1"


def add_user(dc: SambaDC, name: str, uac: int = 0x200) -> str:
    dn = f"CN={name},CN=Users,{BASE_DN}"
    conn = dc.ldap()
    try:
        conn.add(dn, ["top", "person", "organizationalPerson", "user"], {
            "sAMAccountName": name, "userPrincipalName": f"{name}@contoso.local",
            "unicodePwd": f'"{OPS_PASSWORD}"'.encode("utf-16-le"), "userAccountControl": uac})
    finally:
        conn.unbind()
    return dn


def run(dc: SambaDC, capsys, *argv: str) -> tuple[int, dict | str]:
    with dc.inside():
        code = cli.main(list(argv))
    out = capsys.readouterr()
    assert "--json" not in argv or out.out, out.err
    return code, json.loads(out.out) if "--json" in argv else out.out + out.err


def ids(doc: dict) -> set[str]:
    """Finding ids, leaving out tickets.stale: the keytab's own kinit (for the S4U verdicts) moves the host's
    whenChanged, which the whenChanged-based rule still reads as a change (its own fix is separate)."""
    return {f["id"] for f in doc["findings"] if f["code"] != "tickets.stale"}


def ticket_etype(dc: SambaDC, tmp_path: Path, spn: str) -> str:
    """The encryption type of a service ticket the KDC issues for `spn` (Administrator's TGT, kvno, klist -e)."""
    ccache = tmp_path / f"cc-{spn.replace('/', '_')}"
    dc.kinit_password(ccache)
    env = {"KRB5CCNAME": f"FILE:{ccache}"}
    dc.run(["kvno", spn], env, check=True)
    listing = dc.run(["klist", "-e"], env, check=True).stdout
    ccache.unlink()
    line = next(row for row in listing.splitlines() if spn.lower() in row.lower().replace("@contoso.local", ""))
    etypes = listing.splitlines()[listing.splitlines().index(line) + 1]
    return etypes.split(",")[-1].strip().removeprefix("DEPRECATED:")  # "Etype (skey, tkt): <session>, <ticket>"


@pytest.fixture
def ops_profile(fresh_dc: SambaDC, samba_profile):
    """The saved 'samba' profile with opsadmin as its WinRM user (password in the keyring only)."""
    profile = samba_profile.model_copy(update={"winrm_user": OPS_UPN})
    profiles.save(profile)
    credentials.set_password(profile.name, OPS_UPN, OPS_PASSWORD)
    yield profile
    credentials.delete_password(profile.name, OPS_UPN)


def test_the_operator_is_read_from_the_dc_and_the_kdc_refuses_a_sensitive_one(
        fresh_dc, ops_profile, tmp_path, monkeypatch, capsys) -> None:
    dc = fresh_dc
    built = build_on_dc(dc, "protected-operator", tmp_path / "lab")  # t0.admin ∈ Tier0 Admins ∈ Protected Users
    use_lab_hosts(built.lab_dir, monkeypatch)
    ops = add_user(dc, OPS)
    with dc.inside():
        directory = connect(ops_profile, ADMIN_PASSWORD, address=dc.ip)
    try:
        assert abs(directory.dc_clock_offset()) < 3  # RootDSE currentTime, whole seconds
        t0 = directory.read_operator(T0_ADMIN, "test")
        assert t0.protected_users is True and not t0.not_delegated  # nested: through Tier0 Admins
        assert dc.read(PROTECTED_USERS_DN, ["member"])["member"] == [f"CN=Tier0 Admins,CN=Users,{BASE_DN}"]
        admin = directory.read_operator("Administrator@contoso.local", "test")
        assert (admin.protected_users, admin.not_delegated) == (False, False)
        plain = directory.read_operator(OPS_UPN, "test")
        assert (plain.dn, plain.protected_users, plain.not_delegated) == (ops, False, False)
        assert directory.read_operator("nobody@contoso.local", "test").dn is None
    finally:
        directory.close()

    keytab = dc.export_keytab("HV01$", tmp_path / "hv01.keytab")
    granted, detail = dc.s4u_proxy(keytab, "HV01$", OPS, "cifs/HV03.contoso.local")
    assert granted, detail  # HV01 may delegate to HV03 for an ordinary user
    code, doc = run(dc, capsys, "check", "--profile", "samba", "--json")
    assert ids(doc) == set(), doc["findings"]  # the profile's operator is opsadmin: fine

    dc.modify(ops, {"userAccountControl": [(MODIFY_REPLACE, [0x200 | UAC_NOT_DELEGATED])]})
    granted, detail = dc.s4u_proxy(keytab, "HV01$", OPS, "cifs/HV03.contoso.local")
    assert not granted and "constrained delegation failed" in detail, detail  # the KDC's verdict
    code, doc = run(dc, capsys, "check", "--profile", "samba", "--json")
    assert code == 1 and ids(doc) == {"operator.not_delegable:-:-"}, doc["findings"]
    (finding,) = [f for f in doc["findings"] if f["code"] == "operator.not_delegable"]
    assert any("0x100000" in e for e in finding["evidence"]) and OPS_UPN in finding["message"]
    code, text = run(dc, capsys, "migrate", "--profile", "samba", "--vm", "APP01", "--to", "HV03", "--json", "--yes",
                     "--reason", "CHG-1")
    assert code == 1 and "0x8009030E" in text["error"], text

    # Protected Users on Samba 4.17: the nested membership is read (above), but this KDC still delegates.
    granted, detail = dc.s4u_proxy(keytab, "HV01$", "t0.admin", "cifs/HV03.contoso.local")
    assert granted, f"Samba's KDC now refuses Protected Users: update the module docstring ({detail})"
    profiles.save(ops_profile.model_copy(update={"winrm_user": T0_ADMIN}))
    credentials.set_password(ops_profile.name, T0_ADMIN, OPS_PASSWORD)
    try:
        code, doc = run(dc, capsys, "check", "--profile", "samba", "--json")
    finally:
        credentials.delete_password(ops_profile.name, T0_ADMIN)
    assert code == 1 and ids(doc) == {"operator.not_delegable:-:-"}  # by Windows' rule
    assert any("Protected Users" in e for f in doc["findings"] for e in f["evidence"])


def test_rc4_only_accounts_get_rc4_tickets_until_the_fix_and_clocks_are_compared_with_the_dc(
        fresh_dc, samba_profile, tmp_path, monkeypatch, capsys) -> None:
    dc = fresh_dc
    built = build_on_dc(dc, "rc4-only", tmp_path / "lab")
    state = LabStore(built.lab_dir).load_hosts()
    state.hosts["HV03"].clock_offset_s = -420.0  # HV03's clock 7 minutes behind the DC's
    LabStore(built.lab_dir).save_hosts(state)
    use_lab_hosts(built.lab_dir, monkeypatch)
    hv02 = built.computers["HV02"]
    assert dc.read(hv02, ["msDS-SupportedEncryptionTypes"])["msDS-SupportedEncryptionTypes"] == ["4"]
    assert ticket_etype(dc, tmp_path, "cifs/HV02.contoso.local") == "arcfour-hmac"
    assert ticket_etype(dc, tmp_path, "cifs/HV04.contoso.local") == "aes256-cts-hmac-sha1-96"  # 0x1C: AES

    code, doc = run(dc, capsys, "check", "--profile", "samba", "--json")
    assert code == 1 and ids(doc) == {"kerberos.no_aes:HV02:-", "clock.skew:HV03:-"}, doc["findings"]
    code, report = run(dc, capsys, "fix", "--profile", "samba", "--finding", "kerberos.no_aes:HV02:-",
                       "--reason", "CHG-9 AES", "--yes", "--json")
    assert code == 0 and report["applied"] == 1 and not report["failed"], report
    assert dc.read(hv02, ["msDS-SupportedEncryptionTypes"])["msDS-SupportedEncryptionTypes"] == ["28"]
    assert ticket_etype(dc, tmp_path, "cifs/HV02.contoso.local") == "aes256-cts-hmac-sha1-96"  # the KDC's verdict

    code, text = run(dc, capsys, "rollback", "--profile", "samba", "--last", "--yes", "--reason", "CHG-9 back")
    assert code == 0, text
    assert dc.read(hv02, ["msDS-SupportedEncryptionTypes"])["msDS-SupportedEncryptionTypes"] == ["4"]
    assert ticket_etype(dc, tmp_path, "cifs/HV02.contoso.local") == "arcfour-hmac"
