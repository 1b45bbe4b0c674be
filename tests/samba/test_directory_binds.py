"""lmdoctor.services.backends.directory.connect against a real Samba AD DC: LDAPS and StartTLS with certificate validation,
a password from the OS keyring, a Kerberos (GSSAPI) bind from a ticket cache, and a clear error for each
way a bind fails."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from ldap3 import BASE, Connection
from winacl.dtyp.sid import SID

from lmdoctor.services.backends.directory.base import DirectoryError
from lmdoctor.services.backends.directory.connect import connect
from lmdoctor.services.backends.directory.ldap import LdapDirectory
from lmdoctor.services.operations.session import password_for
from lmdoctor.services.storage import credentials
from lmdoctor.services.storage.profiles import Profile
from tests.samba.harness import ADMIN_PASSWORD, SambaDC

pytestmark = pytest.mark.samba

ADMIN_UPN = "Administrator@contoso.local"


def profile(samba: SambaDC, **changes) -> Profile:
    """A profile naming the DC by its certificate name; tests pass the address (the name does not resolve here)."""
    fields = dict(name="samba", domain="contoso.local", dc=samba.hostname, ca_file=samba.ca_file, bind_user=ADMIN_UPN,
                  cluster="HVCLUSTER", timeout_s=5)
    return Profile(**{**fields, **changes})


def open_dir(samba: SambaDC, password: str | None, **changes) -> LdapDirectory:
    with samba.inside():
        return connect(profile(samba, **changes), password, address=samba.ip)


def is_domain_admin(directory: LdapDirectory) -> bool:
    """The bound identity's token (rootDSE tokenGroups; Samba has no WhoAmI) holds Domain Admins (RID 512)."""
    conn = directory.connection
    conn.search("", "(objectClass=*)", BASE, attributes=["tokenGroups"])
    sids = [str(SID.from_bytes(b)) for b in conn.response[0]["raw_attributes"]["tokenGroups"]]
    return any(s.startswith("S-1-5-21-") and s.endswith("-512") for s in sids)


@pytest.fixture
def keyring_password() -> Iterator[Profile]:
    """The Administrator password stored in the real OS keyring (Secret Service) under profile 'samba'."""
    credentials.set_password("samba", ADMIN_UPN, ADMIN_PASSWORD)
    yield
    credentials.delete_password("samba", ADMIN_UPN)


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
def test_password_bind_from_the_keyring_validates_the_certificate(samba_dc_up, keyring_password, mode) -> None:
    dc = samba_dc_up
    p = profile(dc, ldap=mode)
    password = password_for(p, p.bind_user, prompt=lambda _l: pytest.fail("prompted although the keyring has it"))
    assert password == ADMIN_PASSWORD
    directory = open_dir(dc, password, ldap=mode)
    conn = directory.connection
    try:
        assert conn.bound and conn.server.port == (636 if mode == "ldaps" else 389)
        assert conn.server.ssl if mode == "ldaps" else conn.tls_started
        assert conn.server.tls.validate == ssl.CERT_REQUIRED and conn.server.tls.valid_names == [dc.hostname]
        assert Path(conn.server.tls.ca_certs_file) == dc.ca_file
        assert is_domain_admin(directory)
        assert directory.read_values(dc.base_dn, "name") == ("contoso",)
    finally:
        directory.close()


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
def test_both_connections_send_without_nagle(samba_dc_up, mode) -> None:
    """A 64-node cluster's SPN filter (~35 KiB) spans several TLS records: with Nagle's algorithm on, the last
    waited for the DC's delayed ACK (~40 ms per search over loopback)."""
    directory = open_dir(samba_dc_up, ADMIN_PASSWORD, ldap=mode)
    try:
        for conn in (directory.connection, directory.spare):
            assert conn is not None and conn.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        directory.close()


def test_kerberos_bind_uses_the_ticket_cache(samba_dc_up, gssapi_module, tmp_path, monkeypatch) -> None:
    dc = samba_dc_up
    ccache = tmp_path / "cc_admin"
    dc.kinit_password(ccache)
    monkeypatch.setenv("KRB5_CONFIG", str(dc.krb5_conf))
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{ccache}")
    for mode in ("ldaps", "starttls"):
        directory = open_dir(dc, None, ldap=mode, directory_auth="kerberos")
        try:
            assert directory.connection.bound and directory.connection.sasl_mechanism == "GSSAPI"
            assert is_domain_admin(directory)
        finally:
            directory.close()
    klist = dc.run(["klist", "-c", f"FILE:{ccache}"], check=True).stdout
    assert f"ldap/{dc.hostname}@{dc.realm}".lower() in klist.lower()  # the service ticket was for the DC's name, not its address


def test_kerberos_bind_without_a_ticket_is_a_clear_error(samba_dc_up, gssapi_module, tmp_path, monkeypatch) -> None:
    dc = samba_dc_up
    monkeypatch.setenv("KRB5_CONFIG", str(dc.krb5_conf))
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'no-such-cache'}")
    with pytest.raises(DirectoryError, match=r"Kerberos bind failed \(kinit first") as info:
        open_dir(dc, None, directory_auth="kerberos")
    assert "\n" not in str(info.value)


def test_wrong_password_is_a_clear_error(samba_dc_up) -> None:
    with pytest.raises(DirectoryError) as info:
        open_dir(samba_dc_up, "not-the-password")
    assert str(info.value) == f"{samba_dc_up.hostname}: the directory rejected the credentials (wrong user or password)"


def test_no_password_is_refused_before_connecting(samba_dc_up) -> None:
    with pytest.raises(DirectoryError, match="no password for the directory bind"):
        open_dir(samba_dc_up, None)


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
def test_tls_failure_is_a_clear_error_and_nothing_is_bound(samba_dc_up, tmp_path, monkeypatch, mode) -> None:
    """The certificate checked against the system store (not the domain CA) and against a wrong name."""
    binds = []
    real_bind = Connection.bind
    monkeypatch.setattr(Connection, "bind", lambda c, *a, **k: binds.append(c) or real_bind(c, *a, **k))
    for change in ({"ca_file": None}, {"dc": "files.fabrikam.example"}):
        with pytest.raises(DirectoryError) as info:
            open_dir(samba_dc_up, ADMIN_PASSWORD, ldap=mode, **change)
        assert "TLS failure talking to the domain controller" in str(info.value)
        assert "certificate" in str(info.value).lower()
    assert binds == []


def test_simple_bind_over_plain_ldap_is_refused(samba_dc_up, monkeypatch) -> None:
    """If StartTLS does not start (a server or middlebox that declines it), connect refuses to bind."""
    binds = []
    monkeypatch.setattr(Connection, "start_tls", lambda self, read_server_info=True: False)
    monkeypatch.setattr(Connection, "bind", lambda c, *a, **k: binds.append(c))
    with pytest.raises(DirectoryError, match="StartTLS did not start; refusing to bind over plain LDAP"):
        open_dir(samba_dc_up, ADMIN_PASSWORD, ldap="starttls")
    assert binds == []


def test_dc_down_is_a_clear_error_at_connect_and_mid_session(samba_dc_up) -> None:
    dc = samba_dc_up
    directory = open_dir(dc, ADMIN_PASSWORD)
    dc.stop()
    try:
        with pytest.raises(DirectoryError, match="cannot reach the domain controller"):
            directory.read_computers(["HV01"])
        with pytest.raises(DirectoryError) as info:
            open_dir(dc, ADMIN_PASSWORD)
        assert str(info.value).startswith(f"{dc.hostname}: cannot reach the domain controller")
    finally:
        directory.close()
        dc.restart()
