"""Open an authenticated, encrypted LDAP connection to a real domain controller."""

from __future__ import annotations

import math
import socket
import ssl

from ldap3 import KERBEROS, NONE, SASL, SIMPLE, Connection, Server, Tls
from ldap3.core import exceptions as lx
from ldap3.core.tls import check_hostname

from lmdoctor.services.backends.directory.base import DirectoryError
from lmdoctor.services.backends.directory.ldap import LdapDirectory, explain
from lmdoctor.services.storage.profiles import Profile


def tls_for(profile: Profile) -> Tls:
    """Certificate validation is always on; the CA file narrows trust to the domain's CA."""
    return Tls(validate=ssl.CERT_REQUIRED, version=ssl.PROTOCOL_TLS_CLIENT,
               ca_certs_file=str(profile.ca_file) if profile.ca_file else None, valid_names=[profile.dc])


def connect(profile: Profile, password: str | None, *, address: str | None = None) -> LdapDirectory:
    """Bind over LDAPS or StartTLS; never a simple bind in clear text.

    `address` (optional) is where to open the socket when `profile.dc` does not resolve from here;
    the certificate is still checked against `profile.dc` and Kerberos asks for ldap/`profile.dc`."""
    ldaps = profile.ldap == "ldaps"
    server = Server(address or profile.dc, port=profile.ldap_port or (636 if ldaps else 389), use_ssl=ldaps,
                    tls=tls_for(profile), connect_timeout=profile.timeout_s, get_info=NONE)
    if profile.directory_auth == "kerberos":
        # The user's ticket cache (KRB5CCNAME); the service ticket is for ldap/<dc>, whatever the address.
        kwargs = dict(authentication=SASL, sasl_mechanism=KERBEROS, sasl_credentials=(profile.dc,))
    else:
        if not password:
            raise DirectoryError("no password for the directory bind (store one in the OS keyring)")
        kwargs = dict(authentication=SIMPLE, user=profile.bind_user, password=password)
    main = _open(profile, server, kwargs)
    try:
        spare = _open(profile, server, kwargs)  # runs one of the inventory's searches concurrently
    except DirectoryError:
        _discard(main)
        raise
    return LdapDirectory(main, profile.domain, spare=spare)


def _open(profile: Profile, server: Server, kwargs: dict) -> Connection:
    """One connection: TLS established and the DC's name checked before any bind is sent."""
    ldaps = profile.ldap == "ldaps"
    # ldap3 packs receive_timeout into SO_RCVTIMEO as whole seconds: it must be an int on Linux
    conn = Connection(server, receive_timeout=max(1, math.ceil(profile.timeout_s)), raise_exceptions=True,
                      read_only=False, auto_referrals=False, collect_usage=True, **kwargs)
    try:
        try:
            conn.open()
            no_delay(conn.socket)
            if not ldaps and not (conn.start_tls(read_server_info=False) and conn.tls_started):
                raise DirectoryError("StartTLS did not start; refusing to bind over plain LDAP")
            # ldap3 also accepts a certificate matching the socket's address: check the DC's name itself
            check_hostname(conn.socket, profile.dc, None)
        except lx.LDAPException as exc:
            raise DirectoryError(explain(exc)) from None
        except (ssl.SSLError, OSError) as exc:
            raise DirectoryError(f"TLS/connection failure: {exc}") from None
        try:
            conn.bind()
        except Exception as exc:
            if not isinstance(exc, lx.LDAPException) and not type(exc).__module__.startswith("gssapi"):
                raise
            why = explain(exc) if isinstance(exc, lx.LDAPException) else _one_line(exc)
            if profile.directory_auth == "kerberos":
                why = f"Kerberos bind failed (kinit first; is the ticket cache in KRB5CCNAME valid?): {why}"
            raise DirectoryError(why) from None
    except DirectoryError as exc:
        _discard(conn)
        raise DirectoryError(f"{profile.dc}: {exc}") from None
    return conn


def no_delay(sock: socket.socket) -> None:
    """Send each request at once (TCP_NODELAY). A request longer than one TLS record (16 KiB; a 64-node
    cluster's SPN filter is ~35 KiB) leaves in several segments, and Nagle's algorithm holds the last back
    until the DC acknowledges the first, which the DC's TCP delays by up to 40 ms (delayed ACK)."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _discard(conn: Connection) -> None:
    try:
        conn.unbind()
    except Exception:  # the socket may never have opened; nothing to release then
        pass
