"""Open an authenticated, encrypted LDAP connection to a real domain controller."""

from __future__ import annotations

import math
import ssl

from ldap3 import KERBEROS, SASL, SIMPLE, Connection, Server, Tls
from ldap3.core import exceptions as lx

from services.directory.base import DirectoryError
from services.directory.ldap import LdapDirectory, explain
from services.profiles import Profile


def tls_for(profile: Profile) -> Tls:
    """Certificate validation is always on; the CA file narrows trust to the domain's CA."""
    return Tls(validate=ssl.CERT_REQUIRED, version=ssl.PROTOCOL_TLS_CLIENT,
               ca_certs_file=str(profile.ca_file) if profile.ca_file else None, valid_names=[profile.dc])


def connect(profile: Profile, password: str | None) -> LdapDirectory:
    """Bind over LDAPS or StartTLS; never a simple bind in clear text."""
    ldaps = profile.ldap == "ldaps"
    server = Server(profile.dc, port=profile.ldap_port or (636 if ldaps else 389), use_ssl=ldaps,
                    tls=tls_for(profile), connect_timeout=profile.timeout_s, get_info=None)
    if profile.directory_auth == "kerberos":
        kwargs = dict(authentication=SASL, sasl_mechanism=KERBEROS)
    else:
        if not password:
            raise DirectoryError("no password for the directory bind (store one in the OS keyring)")
        kwargs = dict(authentication=SIMPLE, user=profile.bind_user, password=password)
    # ldap3 packs the receive timeout as whole seconds (struct 'LL'): a float would fail every connect
    conn = Connection(server, receive_timeout=math.ceil(profile.timeout_s), raise_exceptions=True, read_only=False,
                      auto_referrals=False, **kwargs)
    try:
        conn.open()
        if not ldaps:
            conn.start_tls()
        conn.bind()
    except lx.LDAPException as exc:
        raise DirectoryError(f"{profile.dc}: {explain(exc)}") from None
    except (ssl.SSLError, OSError) as exc:
        raise DirectoryError(f"{profile.dc}: TLS/connection failure: {exc}") from None
    return LdapDirectory(conn, profile.domain)
