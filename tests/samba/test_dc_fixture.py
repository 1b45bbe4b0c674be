"""The Samba DC fixture itself: TLS binds, strong-auth policy, S4U2Proxy, offline duplicate SPNs, DNS, restarts."""

from __future__ import annotations

import os
import socket
import ssl
from datetime import datetime, timezone
from pathlib import Path

import pytest
from ldap3 import BASE, KERBEROS, MODIFY_ADD, MODIFY_REPLACE, SASL, Connection, Server, Tls
from ldap3.core.exceptions import (
    LDAPConstraintViolationResult,
    LDAPSocketOpenError,
    LDAPStrongerAuthRequiredResult,
)

from tests.samba.harness import (
    ADMIN_PASSWORD,
    COMPUTERS_DN,
    UF_TRUSTED_TO_AUTH_FOR_DELEGATION,
    SambaDC,
    hours_since_1601,
)

pytestmark = pytest.mark.samba

HV02_TARGETS = ["cifs/HV02.contoso.local", "cifs/HV02"]


def host_spns(name: str) -> list[str]:
    return [f"HOST/{name}", f"HOST/{name}.contoso.local"]


def own_netns() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


def test_ldaps_simple_bind_validates_the_dc_certificate(samba_dc_up: SambaDC) -> None:
    conn = samba_dc_up.ldap()
    assert conn.bound and conn.server.ssl
    assert conn.server.tls.validate == ssl.CERT_REQUIRED
    assert conn.search(samba_dc_up.base_dn, "(objectClass=domain)", BASE, attributes=["name"])
    conn.unbind()


def test_ldaps_with_a_foreign_ca_is_rejected(samba_dc_up: SambaDC) -> None:
    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=ssl.get_default_verify_paths().cafile,
              valid_names=[samba_dc_up.hostname])
    with samba_dc_up.inside(), pytest.raises(LDAPSocketOpenError):
        Connection(Server(samba_dc_up.ip, 636, use_ssl=True, tls=tls), user="Administrator@contoso.local",
                   password=ADMIN_PASSWORD, auto_bind=True, raise_exceptions=True)


@pytest.mark.parametrize("name", ["DC1.contoso.local", "127.0.0.2"])
def test_dc_certificate_passes_stdlib_hostname_checks(in_samba_netns: SambaDC, name: str) -> None:
    context = ssl.create_default_context(cafile=str(in_samba_netns.ca_file))
    with socket.create_connection((in_samba_netns.ip, 636), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=name) as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_ldaps_valid_names_may_be_the_ip(in_samba_netns: SambaDC) -> None:
    dc = in_samba_netns
    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(dc.ca_file), valid_names=[dc.ip])
    conn = Connection(Server(dc.ip, 636, use_ssl=True, tls=tls), user="Administrator@contoso.local",
                      password=ADMIN_PASSWORD, raise_exceptions=True)
    assert conn.bind()
    conn.unbind()


def test_starttls_bind(samba_dc_up: SambaDC) -> None:
    conn = samba_dc_up.ldap(use_ssl=False, start_tls=True)
    assert conn.bound and conn.tls_started and conn.server.port == 389
    conn.unbind()


def test_plain_simple_bind_needs_transport_encryption(in_samba_netns: SambaDC) -> None:
    dc = in_samba_netns
    conn = Connection(Server(dc.ip, 389), user="Administrator@contoso.local", password=ADMIN_PASSWORD,
                      raise_exceptions=True)
    with pytest.raises(LDAPStrongerAuthRequiredResult, match="Transport encryption required"):
        conn.bind()


def test_inside_enters_and_restores_the_thread_namespace(samba_dc_up: SambaDC) -> None:
    outside = own_netns()
    with samba_dc_up.inside():
        assert own_netns() == os.stat(f"/var/run/netns/{samba_dc_up.netns}").st_ino != outside
        sock = socket.create_connection((samba_dc_up.ip, 88), timeout=2)
    assert own_netns() == outside
    with sock:  # still bound to the DC's namespace
        assert sock.getpeername() == (samba_dc_up.ip, 88)
    with pytest.raises(OSError):  # nothing listens on 127.0.0.2 out here
        socket.create_connection((samba_dc_up.ip, 636), timeout=2).close()


def test_s4u2proxy_refused_without_delegation_granted_with_protocol_transition(
    samba_dc_up: SambaDC, tmp_path: Path
) -> None:
    dc = samba_dc_up
    dc.add_computer("HV01", host_spns("HV01"))
    dc.add_computer("HV02", host_spns("HV02"))
    keytab = dc.export_keytab("HV01$", tmp_path / "hv01.keytab")

    granted, detail = dc.s4u_proxy(keytab, "HV01$", "Administrator", "cifs/HV02.contoso.local")
    assert not granted, detail
    assert "can't fulfill requested option" in detail

    dc.set_delegation("HV01", HV02_TARGETS, protocol_transition=False)  # "Kerberos only"
    granted, detail = dc.s4u_proxy(keytab, "HV01$", "Administrator", "cifs/HV02.contoso.local")
    assert not granted, detail

    dc.set_delegation("HV01", [], protocol_transition=True)
    hv01 = dc.read(f"CN=HV01,{COMPUTERS_DN}", ["msDS-AllowedToDelegateTo", "userAccountControl"])
    assert sorted(hv01["msDS-AllowedToDelegateTo"]) == sorted(HV02_TARGETS)
    assert int(hv01["userAccountControl"][0]) & UF_TRUSTED_TO_AUTH_FOR_DELEGATION
    for spn in HV02_TARGETS:
        granted, detail = dc.s4u_proxy(keytab, "HV01$", "Administrator", spn)
        assert granted, detail
        assert spn in detail


def test_offline_injected_duplicate_spn_is_on_two_objects(samba_dc_up: SambaDC) -> None:
    dc = samba_dc_up
    owner = dc.add_computer("HV03", host_spns("HV03"))
    other = dc.add_computer("HV04", host_spns("HV04"))
    with pytest.raises(LDAPConstraintViolationResult):
        dc.modify(other, {"servicePrincipalName": [(MODIFY_ADD, ["HOST/HV03.contoso.local"])]})

    dc.inject_duplicate_spn_offline(other, "HOST/HV03.contoso.local")

    assert dc.running
    assert dc.spn_owners("host/hv03.contoso.local") == sorted([owner, other])


def test_dns_a_records_resolve(samba_dc_up: SambaDC) -> None:
    dc = samba_dc_up
    dc.add_dns_a_record("hv05", "127.0.0.15")
    stale = hours_since_1601(datetime.now(timezone.utc)) - 30 * 24
    dc.add_dns_a_record("hv05", "127.0.0.99", stale)
    answer = dc.run(["dig", "+short", "+time=2", "+tries=1", f"@{dc.ip}", "hv05.contoso.local"], check=True)
    assert sorted(answer.stdout.split()) == ["127.0.0.15", "127.0.0.99"]


def test_gssapi_bind_over_ldaps(samba_dc_up: SambaDC, gssapi_module: object, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    dc = samba_dc_up
    ccache = tmp_path / "cc_admin"
    dc.kinit_password(ccache)
    monkeypatch.setenv("KRB5_CONFIG", str(dc.krb5_conf))
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{ccache}")
    with dc.inside():
        conn = Connection(dc.server(), authentication=SASL, sasl_mechanism=KERBEROS,
                          sasl_credentials=(dc.hostname,), raise_exceptions=True)
        conn.bind()
    assert conn.bound
    admin = f"CN=Administrator,CN=Users,{dc.base_dn}"
    conn.modify(admin, {"description": [(MODIFY_REPLACE, ["bound with Kerberos"])]})  # needs admin rights
    assert dc.read(admin, ["description"])["description"] == ["bound with Kerberos"]
    conn.unbind()


def test_stop_and_restart(samba_dc_up: SambaDC) -> None:
    dc = samba_dc_up
    dc.stop()
    assert not dc.running
    with pytest.raises(LDAPSocketOpenError):
        dc.ldap()
    dc.restart()
    assert dc.running and dc.ldap().bound
