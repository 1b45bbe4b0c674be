"""Windows-style WinRM listeners backed by a real Samba KDC: the hosts' computer accounts with their
``HTTP/<fqdn>`` SPNs, their keys exported into the listeners' keytab, a local NTLM account, a ticket
cache from ``kinit``, and a krb5.conf in a temporary directory (/etc is never touched).

The endpoints run inside the DC's network namespace (their sockets and threads are created there),
so the lmdoctor code under test, run inside it too, reaches both the KDC and the hosts.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.psrp.endpoint.lab_cluster import LabCluster
from tests.psrp.endpoint.winauth import WindowsAuth
from tests.samba.harness import ADMIN_PASSWORD, ADMIN_PRINCIPAL, DNS_DOMAIN, SambaDC

HOSTS = ("HV01", "HV02", "HV03", "HV04", "HVCLUSTER")
LOCAL_USER, LOCAL_PASSWORD = "hvadmin", "Local-Hv-Pa55!"  # a local account on every host (NTLM only)


def fqdn(host: str) -> str:
    return f"{host.lower()}.{DNS_DOMAIN}"


@dataclass(frozen=True)
class KerberosLab:
    """What a test needs to point clients at the KDC: files and environment."""

    dc: SambaDC
    keytab: Path
    ntlm_file: Path
    ccache: Path

    def environment(self) -> dict[str, str]:
        return {"KRB5_CONFIG": str(self.dc.krb5_conf), "KRB5CCNAME": f"FILE:{self.ccache}",
                "KRB5_KTNAME": f"FILE:{self.keytab}", "NTLM_USER_FILE": str(self.ntlm_file)}

    def kinit(self) -> None:
        """A fresh TGT for Administrator in the lab's ticket cache (what `kinit` at a jump host does)."""
        self.ccache.unlink(missing_ok=True)
        self.dc.kinit_password(self.ccache, ADMIN_PRINCIPAL, ADMIN_PASSWORD)


def prepare(dc: SambaDC, root: Path) -> KerberosLab:
    """Computer accounts HV01..HV04 and HVCLUSTER with HOST/ and HTTP/ SPNs; their keys in one keytab."""
    root.mkdir(parents=True, exist_ok=True)
    keytab = root / "hosts.keytab"
    for host in HOSTS:
        dc.add_computer(host, spns=[f"HOST/{host}", f"HOST/{fqdn(host)}", f"HTTP/{fqdn(host)}"])
        one = dc.export_keytab(f"{host}$", root / f"{host}.keytab")
        keytab.write_bytes(_merge(keytab, one))
    ntlm_file = root / "ntlm-users"
    ntlm_file.write_text(f":{LOCAL_USER}:{LOCAL_PASSWORD}\n")
    ntlm_file.chmod(0o600)
    return KerberosLab(dc, keytab, ntlm_file, root / "ccache")


def _merge(keytab: Path, extra: Path) -> bytes:
    """Concatenate the entries of two MIT keytab files (format 0x0502: a version word, then entries)."""
    head = keytab.read_bytes() if keytab.exists() else b""
    body = extra.read_bytes()
    assert body[:2] == b"\x05\x02", "unexpected keytab format"
    return (head or b"\x05\x02") + body[2:]


@contextmanager
def resolving_lab_names(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """*.contoso.local resolves to 127.0.0.1 (the endpoints), dc1.contoso.local to the DC."""
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        if isinstance(host, str) and host.lower().endswith("." + DNS_DOMAIN):
            host = "127.0.0.2" if host.lower().startswith("dc1.") else "127.0.0.1"
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    yield


def start_cluster(lab: KerberosLab, lab_dir: Path, https: bool, windows: WindowsAuth | None = None) -> LabCluster:
    """One endpoint for every host (chosen by the Host header), started inside the DC's namespace."""
    cluster = LabCluster(lab_dir, shared=True, https=https, windows=windows or WindowsAuth())
    with lab.dc.inside():
        cluster.__enter__()
    return cluster


def skew_ticket_cache(ccache: Path, seconds: int) -> None:
    """Make the ticket cache carry a KDC time offset: MIT clients add it to their clock (kdc_timesync),
    so every authenticator this client sends is ``seconds`` off from the servers' clocks."""
    data = bytearray(ccache.read_bytes())
    assert data[:2] == b"\x05\x04", "FILE ccache version 4 expected"
    header_len = struct.unpack(">H", data[2:4])[0]
    tag = struct.pack(">HH", 1, 8) + struct.pack(">ii", seconds, 0)
    data[2:4 + header_len] = struct.pack(">H", len(tag)) + tag
    ccache.write_bytes(bytes(data))
