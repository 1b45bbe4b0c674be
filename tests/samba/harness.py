"""A real Samba AD DC (CONTOSO.LOCAL) for tests, each instance in its own loopback-only network namespace.

Provision once into a template (``provision_template``), then start throw-away copies
(``SambaDC.start``): a copy is ready in about half a second. Everything lives under the given
work directory; /etc is never touched. Needs root, ``ip netns`` and the packages that
``.ci/install-samba.sh`` installs.

The DC listens on 127.0.0.2 inside its namespace only, so client code must run there too:
``dc.run([...])`` runs a command in it, ``with dc.inside():`` moves the *calling thread* into it
(sockets opened meanwhile stay in the DC's namespace after leaving), and ``dc.ldap()`` returns a
bound ldap3 connection opened that way, usable from anywhere afterwards.
"""

from __future__ import annotations

import ctypes
import importlib.util
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import count
from pathlib import Path
from typing import Any

from ldap3 import BASE, MODIFY_ADD, MODIFY_REPLACE, NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPNoSuchObjectResult
from ldap3.utils.conv import escape_filter_chars

REALM = "CONTOSO.LOCAL"
DOMAIN = "CONTOSO"
DNS_DOMAIN = "contoso.local"
BASE_DN = "DC=contoso,DC=local"
COMPUTERS_DN = f"CN=Computers,{BASE_DN}"
DNS_ZONE_DN = f"DC={DNS_DOMAIN},CN=MicrosoftDNS,DC=DomainDnsZones,{BASE_DN}"
DC_NAME = "DC1"
DC_HOSTNAME = f"{DC_NAME}.{DNS_DOMAIN}"
DC_IP = "127.0.0.2"
ADMIN_USER = "Administrator"
ADMIN_PASSWORD = "Passw0rd!Lab"  # throw-away password of a loopback-only test DC
ADMIN_PRINCIPAL = f"{ADMIN_USER}@{REALM}"

UF_WORKSTATION_TRUST_ACCOUNT = 0x1000
UF_TRUSTED_FOR_DELEGATION = 0x80000
UF_TRUSTED_TO_AUTH_FOR_DELEGATION = 0x1000000

REQUIRED_TOOLS = ("ip", "samba", "samba-tool", "ldbmodify", "kinit", "kvno")
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
NETNS_DIR = Path("/var/run/netns")
CLONE_NEWNET = 0x40000000
_HOURS_1601_TO_1970 = 11_644_473_600 // 3600

_libc = ctypes.CDLL(None, use_errno=True)
_serial = count(1)


class SambaDCError(RuntimeError):
    """The DC could not be provisioned, started or driven."""


def log(message: str) -> None:
    """Progress and timing line on stderr (visible with pytest -s)."""
    print(f"[samba-dc] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- environment


def environment_problem() -> str | None:
    """Why a DC cannot run here (not root, missing tools, no ``ip netns``), or None when it can."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        return f"missing {', '.join(missing)}: run .ci/install-samba.sh"
    if importlib.util.find_spec("cryptography") is None:
        return "the cryptography package is missing (test extra)"
    probe = _netns_name("probe")
    try:
        netns_add(probe)
    except SambaDCError as exc:
        return f"ip netns is not usable: {exc}"
    netns_delete(probe)
    return None


# --------------------------------------------------------------------------- network namespaces


def _run(
    argv: Sequence[str],
    *,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float | None = 120,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, env=env, input=input, timeout=timeout)
    if check and proc.returncode != 0:
        raise SambaDCError(f"{' '.join(argv)} failed ({proc.returncode}): {(proc.stderr or proc.stdout).strip()}")
    return proc


def netns_add(name: str, ip: str = DC_IP) -> None:
    """Create namespace ``name`` holding only ``lo`` (up, with ``ip``/8)."""
    _run(["ip", "netns", "add", name])
    try:
        _run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"])
        _run(["ip", "netns", "exec", name, "ip", "addr", "add", f"{ip}/8", "dev", "lo"])
    except SambaDCError:
        netns_delete(name)
        raise


def netns_delete(name: str) -> None:
    """Delete namespace ``name`` if it exists."""
    if (NETNS_DIR / name).exists():
        _run(["ip", "netns", "delete", name], check=False)


def _netns_name(kind: str) -> str:
    return f"lmd{os.getpid()}{kind}{next(_serial)}{secrets.token_hex(2)}"


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextmanager
def netns_entered(name: str) -> Iterator[None]:
    """Move the calling thread (only that thread) into namespace ``name``; restore its own on exit.

    Sockets created inside stay bound to ``name`` for their whole life, also after leaving.
    Other threads (thread pools, asyncio executors) are not affected."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(NETNS_DIR / name, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)


# --------------------------------------------------------------------------- provisioning


@dataclass(frozen=True)
class Template:
    """A provisioned, stopped DC tree to copy from; ``origin`` is the path baked into its smb.conf."""

    path: Path
    origin: str
    seconds: float


def _provision_argv(conf: Path, target: Path) -> list[str]:
    options = {
        "interfaces": DC_IP,
        "bind interfaces only": "yes",
        "dns forwarder": "127.0.0.1",
        "disable netbios": "yes",
        "log file": f"{target}/log.%m",
        "log level": "1",
        "ldap server require strong auth": "allow_sasl_over_tls",
        "pid directory": f"{target}/run",
        "ncalrpc dir": f"{target}/run/ncalrpc",
        "winbindd socket directory": f"{target}/run/winbindd",
        "ntp signd socket directory": f"{target}/ntp_signd",
        "smb passwd file": f"{target}/private/smbpasswd",
        "usershare path": f"{target}/usershares",
    }
    argv = [
        "samba-tool", "domain", "provision", "-s", str(conf), f"--targetdir={target}",
        f"--realm={REALM}", f"--domain={DOMAIN}", "--server-role=dc", "--dns-backend=SAMBA_INTERNAL",
        f"--host-name={DC_NAME}", f"--host-ip={DC_IP}", "--use-rfc2307", f"--adminpass={ADMIN_PASSWORD}",
    ]
    return argv + [f"--option={key} = {value}" for key, value in options.items()]


def provision_template(workdir: Path | str) -> Template:
    """Provision CONTOSO.LOCAL into ``workdir``/template, start it once (TLS keys), stop it.

    Keep ``workdir`` short: Samba's unix socket paths live below it (limit 108 bytes)."""
    started = time.monotonic()
    workdir = Path(workdir)
    target = workdir / "template"
    if target.exists():
        raise SambaDCError(f"{target} already exists")
    workdir.mkdir(parents=True, exist_ok=True)
    base_conf = workdir / "base.conf"
    base_conf.write_text("[global]\n")  # keeps samba-tool away from /etc/samba/smb.conf
    netns = _netns_name("p")
    netns_add(netns)
    try:
        _run(["ip", "netns", "exec", netns, *_provision_argv(base_conf, target)], timeout=300)
        provisioned = time.monotonic() - started
        write_tls_material(target / "private" / "tls")
        dc = SambaDC(target, netns, name="template")
        dc._launch()
        dc._stop_process()
    finally:
        netns_delete(netns)
    seconds = time.monotonic() - started
    log(f"provisioned template in {provisioned:.1f} s, first start done at {seconds:.1f} s ({target})")
    return Template(target, str(target), seconds)


def write_tls_material(tls_dir: Path) -> None:
    """Write ca.pem, cert.pem and key.pem (0600) where Samba looks by default, so it does not autogenerate.

    Samba's own certificates lack a subjectAltName and take ``time()`` in little-endian as serial,
    which is negative (invalid for cryptography's parser) in half of all provisions."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "lmdoctor test DC"),
                          x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def build(subject: x509.Name, key: rsa.RSAPrivateKey, ca: bool) -> x509.CertificateBuilder:
        now = datetime.now(timezone.utc)
        return (x509.CertificateBuilder().subject_name(subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
                .not_valid_after(now + timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))

    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = name(f"{DOMAIN} test CA")
    ca_cert = (build(ca_name, ca_key, True).issuer_name(ca_name)
               .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
               .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    alt_names = [x509.DNSName(n) for n in (DC_HOSTNAME, DC_NAME, DNS_DOMAIN)] + [
        x509.IPAddress(ipaddress.ip_address(DC_IP))]
    cert = (build(name(DC_HOSTNAME), key, False).issuer_name(ca_name)
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    tls_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    (tls_dir / "ca.pem").write_bytes(ca_cert.public_bytes(pem))
    (tls_dir / "cert.pem").write_bytes(cert.public_bytes(pem))
    key_file = tls_dir / "key.pem"
    key_file.touch(mode=0o600)
    key_file.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))


def _krb5_conf(ip: str) -> str:
    return f"""[libdefaults]
    default_realm = {REALM}
    dns_lookup_realm = false
    dns_lookup_kdc = false
    rdns = false
    dns_canonicalize_hostname = false
    forwardable = true
[realms]
    {REALM} = {{
        kdc = {ip}
        admin_server = {ip}
    }}
[domain_realm]
    .{DNS_DOMAIN} = {REALM}
    {DNS_DOMAIN} = {REALM}
"""


# --------------------------------------------------------------------------- DNS records


def hours_since_1601(when: datetime) -> int:
    """MS-DNSP record timestamp (hours since 1601-01-01 UTC) for ``when``."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int(when.timestamp() // 3600) + _HOURS_1601_TO_1970


def dns_a_record(ip: str, timestamp_hours: int | None = None, ttl: int = 900) -> bytes:
    """MS-DNSP DNS_RPC_RECORD for an A record; ``timestamp_hours`` None means static (0)."""
    data = socket.inet_aton(ip)
    header = struct.pack("<HHBBHI", len(data), 1, 5, 0xF0, 0, 1)
    return header + struct.pack(">I", ttl) + struct.pack("<II", 0, timestamp_hours or 0) + data


def _dns_query(name: str, qtype: int = 6) -> bytes:
    qname = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"
    return struct.pack(">HHHHHH", 0x4C4D, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", qtype, 1)


# --------------------------------------------------------------------------- the DC


def _signal_group(pgid: int, signum: int) -> bool:
    """Signal the process group samba leads (it runs in its own session); False when it is gone."""
    try:
        os.killpg(pgid, signum)
        return True
    except ProcessLookupError:
        return False


class SambaDC:
    """One running (or stopped) DC copy in its own namespace; use ``SambaDC.start``."""

    def __init__(self, root: Path, netns: str, name: str, ip: str = DC_IP) -> None:
        self.root = root
        self.name = name
        self._netns = netns
        self._ip = ip
        self._proc: subprocess.Popen[bytes] | None = None
        self.start_seconds = 0.0

    # ---- lifecycle

    @classmethod
    def start(cls, template: Template, workdir: Path | str, name: str) -> SambaDC:
        """Copy ``template`` to ``workdir``/``name``, create a namespace and start the DC there."""
        started = time.monotonic()
        root = Path(workdir) / name
        if root.exists():
            raise SambaDCError(f"{root} already exists")
        _run(["cp", "-a", str(template.path), str(root)])
        conf = root / "etc" / "smb.conf"
        conf.write_text(conf.read_text().replace(template.origin, str(root)))
        netns = _netns_name("n")
        netns_add(netns)
        dc = cls(root, netns, name)
        dc.krb5_conf.write_text(_krb5_conf(dc.ip))
        try:
            dc._launch()
        except BaseException:
            dc.close()
            raise
        dc.start_seconds = time.monotonic() - started
        log(f"DC {name!r} up in {dc.start_seconds:.2f} s (netns {netns})")
        return dc

    def stop(self) -> None:
        """Stop samba (the namespace and the tree stay): the DC is down."""
        self._stop_process()

    def restart(self) -> None:
        """Start samba again after ``stop`` (or stop and start it)."""
        self._stop_process()
        self._launch()

    def close(self) -> None:
        """Stop samba and delete the namespace; the tree stays for post-mortems."""
        self._stop_process()
        netns_delete(self._netns)

    def __enter__(self) -> SambaDC:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _launch(self) -> None:
        if self.running:
            return
        for pidfile in (self.root / "run").glob("*.pid"):
            pidfile.unlink()
        with open(self.root / "samba.out", "ab") as out:
            self._proc = subprocess.Popen(
                ["ip", "netns", "exec", self._netns, "samba", "-i", "-M", "single", "-s", str(self.smb_conf)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException:
            self._stop_process()
            raise

    def _stop_process(self) -> None:
        """SIGTERM samba's own process group (samba, winbindd...), wait, SIGKILL what is left."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        deadline = time.monotonic() + STOP_TIMEOUT
        while _signal_group(proc.pid, 0) and time.monotonic() < deadline:
            time.sleep(0.05)
        _signal_group(proc.pid, signal.SIGKILL)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                raise SambaDCError(f"samba exited ({self._rc()}) before it was ready\n{self.log_tail()}")
            if self._answers():
                return
            time.sleep(0.05)
        raise SambaDCError(f"samba not ready (LDAPS/KDC/DNS) after {READY_TIMEOUT:.0f} s\n{self.log_tail()}")

    def _rc(self) -> object:
        return None if self._proc is None else self._proc.returncode

    def _answers(self) -> bool:
        """LDAPS rootDSE search, a TCP connect to the KDC and a DNS SOA answer all succeed."""
        with self.inside():
            return self._ldaps_answers() and self._port_open(88) and self._dns_answers()

    def _port_open(self, port: int) -> bool:
        try:
            socket.create_connection((self.ip, port), timeout=1).close()
            return True
        except OSError:
            return False

    def _ldaps_answers(self) -> bool:
        if not self.ca_file.exists() or not self._port_open(636):
            return False
        try:
            conn = Connection(self.server(), auto_bind=True, receive_timeout=2, raise_exceptions=True)
            ok = conn.search("", "(objectClass=*)", BASE, attributes=["dnsHostName"])
            conn.unbind()
            return bool(ok)
        except Exception:
            return False

    def _dns_answers(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(1)
            try:
                sock.sendto(_dns_query(DNS_DOMAIN), (self.ip, 53))
                reply = sock.recv(4096)
            except OSError:
                return False
        flags, answers = struct.unpack(">H2xH", reply[2:8])
        return bool(flags & 0x000F == 0 and answers > 0)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of samba's console output and log.samba."""
        parts = []
        for path in (self.root / "samba.out", self.root / "log.samba"):
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path}\n" + "\n".join(tail))
        return "\n".join(parts) or "(no samba log)"

    # ---- facts

    @property
    def ip(self) -> str:
        return self._ip

    @property
    def netns(self) -> str:
        return self._netns

    @property
    def hostname(self) -> str:
        return DC_HOSTNAME

    @property
    def realm(self) -> str:
        return REALM

    @property
    def domain(self) -> str:
        return DNS_DOMAIN

    @property
    def base_dn(self) -> str:
        return BASE_DN

    @property
    def smb_conf(self) -> Path:
        return self.root / "etc" / "smb.conf"

    @property
    def private_dir(self) -> Path:
        return self.root / "private"

    @property
    def sam_ldb(self) -> Path:
        return self.private_dir / "sam.ldb"

    @property
    def domain_partition_file(self) -> Path:
        """The tdb file of the domain partition (for offline ldbmodify)."""
        return self.private_dir / "sam.ldb.d" / f"{BASE_DN.upper()}.ldb"

    @property
    def ca_file(self) -> Path:
        return self.private_dir / "tls" / "ca.pem"

    @property
    def krb5_conf(self) -> Path:
        return self.root / "krb5.conf"

    # ---- running things in the namespace

    @contextmanager
    def inside(self) -> Iterator[None]:
        """Run the calling thread inside the DC's namespace for the ``with`` block (see ``netns_entered``)."""
        with netns_entered(self._netns):
            yield

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """os.environ plus KRB5_CONFIG for this DC, plus ``extra``."""
        return {**os.environ, "KRB5_CONFIG": str(self.krb5_conf), **(extra or {})}

    def run(
        self,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        *,
        check: bool = False,
        input: str | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` via ``ip netns exec`` with KRB5_CONFIG set (text output captured)."""
        return _run(
            ["ip", "netns", "exec", self._netns, *argv], check=check, env=self.env(env), input=input, timeout=timeout
        )

    # ---- LDAP

    def tls(self) -> Tls:
        """ldap3 Tls validating the DC certificate against its CA and host name."""
        return Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(self.ca_file), valid_names=[self.hostname])

    def server(self, *, use_ssl: bool = True, port: int | None = None) -> Server:
        """ldap3 Server for this DC: LDAPS on 636 by default, plain 389 (StartTLS-capable) otherwise."""
        port = port or (636 if use_ssl else 389)
        return Server(self.ip, port=port, use_ssl=use_ssl, tls=self.tls(), get_info=NONE, connect_timeout=5)

    def ldap(
        self,
        user: str = f"{ADMIN_USER}@{DNS_DOMAIN}",
        password: str = ADMIN_PASSWORD,
        *,
        use_ssl: bool = True,
        start_tls: bool = False,
        **kwargs: object,
    ) -> Connection:
        """A bound ldap3 Connection (simple bind) opened inside the namespace; usable from anywhere after."""
        with self.inside():
            conn = Connection(self.server(use_ssl=use_ssl), user=user, password=password,
                              raise_exceptions=True, **kwargs)
            conn.open()
            if start_tls:
                conn.start_tls()
            conn.bind()
        return conn

    def add_computer(
        self,
        name: str,
        spns: Iterable[str] = (),
        uac: int = UF_WORKSTATION_TRUST_ACCOUNT,
        *,
        delegate_to: Iterable[str] = (),
        dns_host_name: str | None = None,
        password: str | None = None,
        container: str = COMPUTERS_DN,
    ) -> str:
        """Create computer ``name`` (sAMAccountName ``name$``) over LDAPS; returns its DN."""
        dn = f"CN={name},{container}"
        attributes: dict[str, object] = {
            "sAMAccountName": f"{name}$",
            "userAccountControl": uac,
            "dNSHostName": dns_host_name or f"{name}.{DNS_DOMAIN}",
            "unicodePwd": f'"{password or name + "-Secret-Pw1!"}"'.encode("utf-16-le"),
        }
        if spns := list(spns):
            attributes["servicePrincipalName"] = spns
        if delegate_to := list(delegate_to):
            attributes["msDS-AllowedToDelegateTo"] = delegate_to
        conn = self.ldap()
        try:
            conn.add(dn, ["top", "person", "organizationalPerson", "user", "computer"], attributes)
        finally:
            conn.unbind()
        return dn

    def modify(self, dn: str, changes: Mapping[str, object]) -> None:
        """One ldap3 modify as Administrator (``changes`` in ldap3 form)."""
        conn = self.ldap()
        try:
            conn.modify(dn, dict(changes))
        finally:
            conn.unbind()

    def read(self, dn: str, attributes: Sequence[str]) -> dict[str, list[Any]]:
        """Attributes of one entry as ldap3 returns them without schema (str/bytes; missing ones as [])."""
        conn = self.ldap()
        try:
            conn.search(dn, "(objectClass=*)", BASE, attributes=list(attributes))
            entry = conn.response[0]["attributes"]
            return {name: list(entry.get(name) or []) for name in attributes}
        finally:
            conn.unbind()

    def set_delegation(self, name: str, targets: Iterable[str], *, protocol_transition: bool) -> None:
        """Add ``targets`` to ``name``'s msDS-AllowedToDelegateTo and set/clear the 0x1000000 bit (read, OR, write)."""
        dn = f"CN={name},{COMPUTERS_DN}"
        uac = int(self.read(dn, ["userAccountControl"])["userAccountControl"][0])
        uac = uac | UF_TRUSTED_TO_AUTH_FOR_DELEGATION if protocol_transition else uac & ~UF_TRUSTED_TO_AUTH_FOR_DELEGATION
        changes: dict[str, object] = {"userAccountControl": [(MODIFY_REPLACE, [uac])]}
        if targets := list(targets):
            changes["msDS-AllowedToDelegateTo"] = [(MODIFY_ADD, targets)]
        self.modify(dn, changes)

    def spn_owners(self, spn: str) -> list[str]:
        """DNs of every object that carries ``spn`` (case-insensitive)."""
        conn = self.ldap()
        try:
            conn.search(self.base_dn, f"(servicePrincipalName={escape_filter_chars(spn)})", SUBTREE, attributes=["cn"])
            return sorted(item["dn"] for item in conn.response if item.get("type") == "searchResEntry")
        finally:
            conn.unbind()

    def add_dns_a_record(self, name: str, ip: str, timestamp_hours: int | None = None, ttl: int = 900) -> str:
        """Add an A record to ``name``.contoso.local (dnsNode in DomainDnsZones); None timestamp = static."""
        dn = f"DC={name},{DNS_ZONE_DN}"
        record = dns_a_record(ip, timestamp_hours, ttl)
        conn = self.ldap()
        try:
            try:
                conn.modify(dn, {"dnsRecord": [(MODIFY_ADD, [record])]})
            except LDAPNoSuchObjectResult:
                conn.add(dn, ["top", "dnsNode"], {"dnsRecord": [record]})
        finally:
            conn.unbind()
        return dn

    def inject_duplicate_spn_offline(self, dn: str, spn: str) -> None:
        """Add ``spn`` to ``dn`` behind Samba's back (it refuses duplicates online): stop, ldbmodify the tdb, start."""
        ldif = f"dn: {dn}\nchangetype: modify\nadd: servicePrincipalName\nservicePrincipalName: {spn}\n"
        was_running = self.running
        self._stop_process()
        _run(["ldbmodify", "-H", f"tdb://{self.domain_partition_file}"], input=ldif)
        if was_running:
            self._launch()

    # ---- Kerberos

    def export_keytab(self, principal: str, path: Path | str) -> Path:
        """``samba-tool domain exportkeytab`` for ``principal`` (e.g. ``HV01$``) into ``path``."""
        path = Path(path)
        path.unlink(missing_ok=True)
        self.run(["samba-tool", "domain", "exportkeytab", str(path), f"--principal={principal}",
                  "-s", str(self.smb_conf)], check=True)
        return path

    def kinit_keytab(self, keytab: Path | str, principal: str, ccache: Path | str) -> None:
        """Get a TGT for ``principal`` from ``keytab`` into FILE:``ccache``."""
        self.run(["kinit", "-k", "-t", str(keytab), self._qualify(principal)], {"KRB5CCNAME": f"FILE:{ccache}"},
                 check=True)

    def kinit_password(self, ccache: Path | str, principal: str = ADMIN_PRINCIPAL,
                       password: str = ADMIN_PASSWORD) -> None:
        """Get a forwardable TGT with a password (default: Administrator) into FILE:``ccache``."""
        self.run(["kinit", "-f", self._qualify(principal)], {"KRB5CCNAME": f"FILE:{ccache}"},
                 input=password + "\n", check=True)

    def s4u_proxy(
        self, keytab: Path | str, source_principal: str, impersonate_user: str, target_spn: str
    ) -> tuple[bool, str]:
        """As ``source_principal``, S4U2Self for ``impersonate_user`` then S4U2Proxy to ``target_spn``.

        Returns (granted, kvno output). Refusal typically reads "KDC can't fulfill requested option"."""
        ccache = self.root / f"cc_s4u_{next(_serial)}"
        try:
            self.kinit_keytab(keytab, source_principal, ccache)
            proc = self.run(["kvno", "-I", impersonate_user, "-P", target_spn], {"KRB5CCNAME": f"FILE:{ccache}"})
        finally:
            ccache.unlink(missing_ok=True)
        return proc.returncode == 0, (proc.stdout + proc.stderr).strip()

    @staticmethod
    def _qualify(principal: str) -> str:
        return principal if "@" in principal else f"{principal}@{REALM}"


def inject_duplicate_spns_offline(dc: SambaDC, spns_by_dn: Mapping[str, Iterable[str]]) -> None:
    """Like ``SambaDC.inject_duplicate_spn_offline`` for several objects and SPNs with one stop/start."""
    ldif = "".join(
        f"dn: {dn}\nchangetype: modify\nadd: servicePrincipalName\n"
        + "".join(f"servicePrincipalName: {spn}\n" for spn in spns) + "\n"
        for dn, spns in spns_by_dn.items() if spns)
    if ldif:
        modify_offline(dc, ldif)


def modify_offline(dc: SambaDC, ldif: str) -> None:
    """Apply ``ldif`` to the domain partition's tdb with the DC stopped (bypasses Samba's checks), then restart."""
    was_running = dc.running
    dc.stop()
    _run(["ldbmodify", "-H", f"tdb://{dc.domain_partition_file}"], input=ldif)
    if was_running:
        dc.restart()
