"""Unusable values planted on a real Samba AD DC: `lmdoctor check --profile` reports each as a
`directory.bad_value` finding on its object, shown safely, and the seed scenario's findings still appear.

What Samba 4.17 lets in (as Administrator): over LDAP it stores a dNSHostName with a port and a garbage
dnsRecord blob, and refuses bytes that are not UTF-8 in servicePrincipalName, msDS-AllowedToDelegateTo and
dNSHostName (invalidAttributeSyntax), a malformed RBCD descriptor (constraintViolation) and deleting
userAccountControl (unwillingToPerform). Written into the stopped DC's partition with ldbmodify, the
non-UTF-8 delegation value and dNSHostName, the malformed descriptor and the missing userAccountControl
are served as they are; a non-UTF-8 SPN is refused even there (ldb cannot casefold it for its index).
"""

from __future__ import annotations

import base64
import json
import subprocess

import pytest
from ldap3 import MODIFY_ADD, MODIFY_DELETE, MODIFY_REPLACE
from ldap3.core.exceptions import (
    LDAPConstraintViolationResult,
    LDAPInvalidAttributeSyntaxResult,
    LDAPUnwillingToPerformResult,
)

from lmdoctor.cli import commands as cli
from lmdoctor.services.backends.lab.scenarios import ZONE_DN
from tests.samba.harness import SambaDC
from tests.samba.scenarios import build_on_dc, finding_keys, use_lab_hosts

pytestmark = pytest.mark.samba

DELEGATE = "msDS-AllowedToDelegateTo"
RBCD = "msDS-AllowedToActOnBehalfOfOtherIdentity"
GARBAGE_SD = b"\x01\x00\x04\x80garbage"


def ldif(dn: str, verb: str, attribute: str, value: bytes | None = None) -> str:
    line = f"{attribute}:: {base64.b64encode(value).decode()}\n" if value is not None else ""
    return f"dn: {dn}\nchangetype: modify\n{verb}: {attribute}\n{line}-\n\n"


def ldbmodify(dc: SambaDC, text: str) -> subprocess.CompletedProcess[bytes]:
    """ldbmodify on the (stopped) DC's domain partition; output kept as bytes (it may echo the value)."""
    return subprocess.run(["ldbmodify", "-H", f"tdb://{dc.domain_partition_file}"], input=text.encode(),
                          capture_output=True, timeout=120)


def test_check_reports_values_planted_on_the_dc_and_goes_on(fresh_dc, samba_profile, tmp_path, monkeypatch,
                                                             capsys):
    built = build_on_dc(fresh_dc, "seed", tmp_path / "lab")
    hv02, hv03, hv04 = (built.computers[n] for n in ("HV02", "HV03", "HV04"))
    conn = fresh_dc.ldap()
    try:  # what Samba stores over LDAP
        conn.modify(hv03, {"dNSHostName": [(MODIFY_REPLACE, ["hv03.contoso.local:5985"])]})
        conn.modify(f"DC=HV04,{ZONE_DN}", {"dnsRecord": [(MODIFY_ADD, [b"\x01\x02garbage"])]})
        with pytest.raises(LDAPInvalidAttributeSyntaxResult):  # and what it refuses there
            conn.modify(hv03, {DELEGATE: [(MODIFY_ADD, [b"cifs/HV\xfe01"])]})
        with pytest.raises(LDAPConstraintViolationResult):
            conn.modify(hv04, {RBCD: [(MODIFY_REPLACE, [GARBAGE_SD])]})
        with pytest.raises(LDAPUnwillingToPerformResult):
            conn.modify(hv04, {"userAccountControl": [(MODIFY_DELETE, [])]})
    finally:
        conn.unbind()
    fresh_dc.stop()
    try:
        refused = ldbmodify(fresh_dc, ldif(hv03, "add", "servicePrincipalName", b"HOST/HV\xff03"))
        assert refused.returncode != 0 and b"unable to casefold" in refused.stderr
        planted = ldbmodify(fresh_dc, ldif(hv03, "add", DELEGATE, b"cifs/HV\xfe01")
                            + ldif(hv02, "replace", "dNSHostName", b"hv02\xff.contoso.local")
                            + ldif(hv04, "replace", RBCD, GARBAGE_SD)
                            + ldif(hv04, "delete", "userAccountControl"))
        assert planted.returncode == 0, planted.stderr
    finally:
        fresh_dc.restart()

    use_lab_hosts(built.lab_dir, monkeypatch)
    monkeypatch.setattr(cli.credentials, "ask_on_terminal", lambda _label: pytest.fail("asked for a password"))
    with fresh_dc.inside():
        code = cli.main(["check", "--profile", "samba", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 1
    found = {f["id"]: f for f in document["findings"]}
    assert {("delegation.missing", "HV01", "HV02"), ("delegation.wrong_object", "HV02", "HV02")} <= finding_keys(
        document["findings"])
    assert found["directory.bad_value:HV02:-"]["evidence"] == [
        "HV02 dNSHostName = hv02\\xff.contoso.local: not UTF-8 text"]
    assert found["directory.bad_value:HV03:-"]["evidence"] == [
        "HV03 dNSHostName = hv03.contoso.local:5985: not a DNS host name (letters, digits, '-' and '.'; no port, "
        "at most 253)",
        "HV03 msDS-AllowedToDelegateTo = cifs/HV\\xfe01: not UTF-8 text"]
    hv04_evidence = found["directory.bad_value:HV04:-"]["evidence"]
    assert [line.split(" = ")[0] for line in hv04_evidence] == [
        f"HV04 {RBCD}", "HV04 userAccountControl", "HV04 dnsRecord"]
    assert hv04_evidence[0].startswith(f"HV04 {RBCD} = 0x{GARBAGE_SD.hex()}: unreadable security descriptor")
    assert all(f["severity"] == "error" for i, f in found.items() if "bad_value" in i)
    assert [n["name"] for n in document["nodes"]] == ["HV01", "HV02", "HV03", "HV04"]
    assert "delegation.kerberos_only:HV04:-" not in found  # an unreadable userAccountControl is not judged
