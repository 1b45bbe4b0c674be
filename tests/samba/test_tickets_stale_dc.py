"""`tickets.stale` on a real Samba AD DC: only a delegation change after the SYSTEM tickets counts.

whenChanged moves on every write to a computer object — the host's own logon (lastLogonTimestamp)
and the machine password change included — so the rule reads the per-attribute originating change
times from the replication metadata, in the same search as the attributes. Samba 4.17 returns no
value for the constructed msDS-ReplAttributeMetaData (the XML form Windows offers) and the binary
replPropertyMetaData for every object; lmdoctor reads whichever the DC returns.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from ldap3 import BASE, MODIFY_ADD, MODIFY_REPLACE

from lmdoctor.cli import commands as cli
from lmdoctor.services.backends.lab.scenarios import BASE_DN
from lmdoctor.services.domain import replmeta
from tests.samba.scenarios import _wait_past_second, build_on_dc, machine_password, use_lab_hosts

pytestmark = pytest.mark.samba


def _check(dc, capsys) -> tuple[int, set[tuple[str, str | None]]]:
    with dc.inside():
        code = cli.main(["check", "--profile", "samba", "--json"])
    document = json.loads(capsys.readouterr().out)
    return code, {(f["code"], f.get("source")) for f in document["findings"]}


def _when_changed(dc, dn: str) -> datetime:
    value = str(dc.read(dn, ["whenChanged"])["whenChanged"][0])
    return datetime.strptime(value[:14], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)


def test_samba_returns_the_binary_metadata_and_no_xml_form(fresh_dc):
    dn = fresh_dc.add_computer("META01", ["HOST/META01"], delegate_to=["cifs/HV02.contoso.local"])
    conn = fresh_dc.ldap()
    try:
        conn.search(dn, "(objectClass=*)", BASE, attributes=replmeta.LDAP_ATTRIBUTES)
        raw = conn.response[0]["raw_attributes"]
    finally:
        conn.unbind()
    assert not raw.get(replmeta.XML_ATTRIBUTE)  # the constructed XML attribute: no value on Samba 4.17
    times = replmeta.from_binary(raw[replmeta.BINARY_ATTRIBUTE][0])
    assert set(times) == {replmeta.ALLOWED_TO_DELEGATE_TO, replmeta.USER_ACCOUNT_CONTROL,
                          replmeta.SERVICE_PRINCIPAL_NAME}
    assert all(abs((t - datetime.now(timezone.utc)).total_seconds()) < 120 for t in times.values())


def test_the_attrtyps_follow_from_the_schemas_attribute_ids(fresh_dc):
    """Each ATTRTYP is 0x0009xxxx for attributeID 1.2.840.113556.1.4.xxxx (prefix index 9 of the default
    prefix table, MS-DRSR 5.16.4). Samba lets only the system write an RBCD descriptor (the reads tests put
    one in offline, past the metadata), so its ATTRTYP is checked against the schema instead."""
    conn = fresh_dc.ldap()
    try:
        conn.search(f"CN=Schema,CN=Configuration,{BASE_DN}",
                    "(|" + "".join(f"(lDAPDisplayName={a})" for a in replmeta.DELEGATION_ATTRIBUTES) + ")",
                    attributes=["lDAPDisplayName", "attributeID"])
        ids = {str(e["raw_attributes"]["lDAPDisplayName"][0].decode()): e["raw_attributes"]["attributeID"][0].decode()
               for e in conn.response if e.get("type") == "searchResEntry"}
    finally:
        conn.unbind()
    assert set(ids) == set(replmeta.DELEGATION_ATTRIBUTES)
    for attid, name in replmeta.ATTRTYPS.items():
        prefix, _, last = ids[name].rpartition(".")
        assert prefix == "1.2.840.113556.1.4" and attid == 0x00090000 | int(last), (name, ids[name])


def test_logon_bookkeeping_and_a_password_change_do_not_raise_it_a_delegation_change_does(
        fresh_dc, samba_profile, tmp_path, monkeypatch, capsys):
    built = build_on_dc(fresh_dc, "healthy", tmp_path / "lab")
    use_lab_hosts(built.lab_dir, monkeypatch)
    monkeypatch.setattr(cli.credentials, "ask_on_terminal", lambda _label: pytest.fail("asked for a password"))
    issued = built.store.load_hosts().hosts["HV01"].tickets.issued
    hv01 = built.computers["HV01"]
    assert _check(fresh_dc, capsys) == (0, set())

    _wait_past_second(issued)
    keytab = fresh_dc.export_keytab("HV01$", tmp_path / "hv01.keytab")
    fresh_dc.kinit_keytab(keytab, "HV01$", tmp_path / "cc_hv01")  # the host's own logon
    fresh_dc.modify(hv01, {"unicodePwd": [(MODIFY_REPLACE, [f'"{machine_password("HV01")}-2"'.encode("utf-16-le")])]})
    assert _when_changed(fresh_dc, hv01) > issued  # whenChanged moved …
    assert _check(fresh_dc, capsys) == (0, set())  # … and that is no delegation change

    fresh_dc.modify(hv01, {"msDS-AllowedToDelegateTo": [(MODIFY_ADD, ["cifs/FS01.contoso.local"])]})
    code, found = _check(fresh_dc, capsys)
    assert (code, found) == (1, {("tickets.stale", "HV01")})
