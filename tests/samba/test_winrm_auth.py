"""WinRM with the authentication admins use — Kerberos from a ticket cache and Negotiate (NTLM) with a
keyring password, over HTTP with message encryption and over HTTPS — against a real Samba KDC.

The hosts are Windows-style listeners (tests/psrp/endpoint, ``WindowsAuth``) holding their computer
accounts' keys exported from the DC; lmdoctor's CLI runs in-process, unchanged, inside the DC's network
namespace. The directory side is the lab directory (as in tests/test_psrp_cli.py): the DC here is the
KDC that WinRM authentication depends on. Every request the listeners saw is checked on the wire.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from spnego._ntlm_raw.crypto import ntowfv1

from lmdoctor.cli import commands as cli
from lmdoctor.services.backends.hosts.psrp import PsrpHostGateway, WinRMSettings
from lmdoctor.services.backends.lab.directory import LabDirectory
from lmdoctor.services.backends.lab.state import LabStore
from lmdoctor.services.storage import credentials, profiles
from lmdoctor.services.storage.profiles import Profile
from tests.psrp.endpoint.lab_cluster import LabCluster
from tests.psrp.endpoint.transport import RequestRecord
from tests.psrp.endpoint.winauth import WindowsAuth
from tests.samba.harness import ADMIN_PASSWORD, DNS_DOMAIN
from tests.samba.winrm_kdc import (
    LOCAL_PASSWORD,
    LOCAL_USER,
    KerberosLab,
    prepare,
    resolving_lab_names,
    skew_ticket_cache,
    start_cluster,
)

pytestmark = [pytest.mark.samba, pytest.mark.winrm_kerberos, pytest.mark.psrp, pytest.mark.keyring]

PROFILE = "winrm"
COMBINATIONS = [("kerberos", "http"), ("kerberos", "https"), ("negotiate", "http"), ("negotiate", "https")]
SECRETS = (LOCAL_PASSWORD, ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def kdc_lab(samba_dc, tmp_path_factory: pytest.TempPathFactory) -> KerberosLab:
    return prepare(samba_dc, tmp_path_factory.mktemp("winrm-kdc"))


@pytest.fixture
def kerberos_env(kdc_lab: KerberosLab, monkeypatch: pytest.MonkeyPatch) -> Iterator[KerberosLab]:
    """The KDC's krb5.conf, a fresh ticket for Administrator, the listeners' keytab and NTLM accounts."""
    if not kdc_lab.dc.running:
        kdc_lab.dc.restart()
    for key, value in kdc_lab.environment().items():
        monkeypatch.setenv(key, value)
    kdc_lab.kinit()
    with resolving_lab_names(monkeypatch):
        yield kdc_lab


def save_profile(auth: str, transport: str, port: int, ca_file: Path) -> Profile:
    profile = Profile(name=PROFILE, domain=DNS_DOMAIN, dc=f"dc1.{DNS_DOMAIN}", bind_user="Administrator@contoso.local",
                      directory_auth="kerberos", cluster="HVCLUSTER", winrm_transport=transport, winrm_port=port,
                      winrm_auth=auth, winrm_user=LOCAL_USER if auth == "negotiate" else None,
                      winrm_ca_file=ca_file, timeout_s=5)
    profiles.save(profile)
    return profile


@pytest.fixture
def wired(request, kerberos_env: KerberosLab, lab_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LabCluster]:
    """The lab's hosts behind one Windows-style listener and a saved profile for (auth, transport)."""
    auth, transport = request.param
    cluster = start_cluster(kerberos_env, lab_dir, https=transport == "https")
    save_profile(auth, transport, cluster.endpoints["HV01"].port, cluster.pki.ca_file)
    if auth == "negotiate":
        credentials.set_password(PROFILE, LOCAL_USER, LOCAL_PASSWORD)
    monkeypatch.setattr("lmdoctor.services.backends.directory.connect.connect", lambda profile, password: LabDirectory(LabStore(lab_dir)))
    monkeypatch.setattr(cli.credentials, "ask_on_terminal", lambda _label: pytest.fail("asked for a password"))
    try:
        yield cluster
    finally:
        cluster.__exit__(None, None, None)
        if auth == "negotiate":
            credentials.delete_password(PROFILE, LOCAL_USER)


def run_cli(lab: KerberosLab, capsys, *argv: str) -> tuple[int, str, str]:
    with lab.dc.inside():
        code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def tokens(record: RequestRecord) -> bytes:
    """The decoded security token of a request's Authorization header (b"" when none)."""
    for line in record.wire.split(b"\r\n"):
        if line.lower().startswith(b"authorization:"):
            return base64.b64decode(line.split(b" ")[-1])
    return b""


def assert_wire_is_clean(records: list[RequestRecord], transport: str) -> None:
    """No password or NT hash anywhere on the wire; over HTTP every body sealed both ways."""
    assert records
    for secret in SECRETS:
        nt_hash = ntowfv1(secret)
        for record in records:
            assert secret.encode() not in record.wire and secret.encode("utf-16-le") not in record.wire
            assert nt_hash not in record.wire and nt_hash.hex().encode() not in record.wire.lower()
            assert nt_hash not in tokens(record)
    assert not [r for r in records if r.auth.lower() == "basic"]
    bodies = [r for r in records if r.wire.split(b"\r\n\r\n", 1)[1]]
    assert bodies
    if transport == "http":
        assert all(r.content_type.startswith("multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\"")
                   for r in bodies), {r.content_type for r in bodies}
        assert all(r.reply_type.startswith("multipart/encrypted") for r in bodies if r.status == 200)
        assert all(b"<s:Envelope" not in r.wire and b"Get-VMHost" not in r.wire for r in records)
    else:
        assert all(r.content_type.startswith("application/soap+xml") for r in bodies)


@pytest.mark.parametrize("wired", COMBINATIONS, indirect=True, ids=[f"{a}-{t}" for a, t in COMBINATIONS])
def test_check_fix_and_migrate_over_each_combination(wired: LabCluster, kerberos_env: KerberosLab, request,
                                                     capsys, record_property) -> None:
    auth, transport = request.node.callspec.params["wired"]
    endpoint = wired.endpoints["HV01"]
    code, out, err = run_cli(kerberos_env, capsys, "check", "--profile", PROFILE, "--json")
    doc = json.loads(out)
    assert code == 1, err
    assert [n["name"] for n in doc["nodes"]] == ["HV01", "HV02", "HV03", "HV04"]
    assert all(n["reachable"] for n in doc["nodes"]), doc["nodes"]
    assert {f["id"] for f in doc["findings"]} >= {"delegation.missing:HV01:HV02"}

    code, out, err = run_cli(kerberos_env, capsys, "fix", "--profile", PROFILE, "--all", "--reason", "CHG-14 auth",
                             "--yes", "--json")
    assert code == 0 and json.loads(out)["applied"] >= 1, err
    code, out, err = run_cli(kerberos_env, capsys, "migrate", "--profile", PROFILE, "--vm", "APP01", "--to", "HV02",
                                "--yes", "--reason", "CHG-1")
    assert code == 0, err
    assert "OK: APP01 moved HV01 → HV02 and is verified there" in out

    records = endpoint.requests
    record_property("wire", [(r.action, r.status, r.auth, r.content_type, r.reply_type) for r in records[:5]])
    assert_wire_is_clean(records, transport)
    schemes = {r.auth for r in records if r.auth}
    assert schemes == {"Negotiate"}
    handshakes = [tokens(r) for r in records if r.auth]
    if auth == "kerberos":  # raw Kerberos AP-REQs for HTTP/<fqdn>, from the ticket cache; no NTLM
        assert not any(b"NTLMSSP" in t for t in handshakes)
        klist = kerberos_env.dc.run(["klist", "-c", f"FILE:{kerberos_env.ccache}"], check=True).stdout.lower()
        for host in ("hv01", "hv02", "hv03", "hv04"):
            assert f"http/{host}.contoso.local@contoso.local" in klist, klist
    else:  # the local account authenticates with NTLM (Kerberos has no such principal)
        assert any(b"NTLMSSP\x00\x03" in t for t in handshakes)  # the NTLM AUTHENTICATE, inside SPNEGO
        assert credentials.get_password(PROFILE, LOCAL_USER) == LOCAL_PASSWORD


# --- faults: one clear line naming the host and what to do ---------------------------------------------------


def check_fails(lab: KerberosLab, capsys, *needles: str) -> str:
    code, out, err = run_cli(lab, capsys, "check", "--profile", PROFILE, "--json")
    assert code == 2 and not out, (out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err.strip()


@pytest.mark.parametrize("wired", [("kerberos", "http")], indirect=True, ids=["kerberos-http"])
def test_kerberos_faults_are_one_clear_line(wired: LabCluster, kerberos_env: KerberosLab, capsys, monkeypatch,
                                            record_property) -> None:
    endpoint = wired.endpoints["HV01"]
    ccache = kerberos_env.ccache
    seen = {}

    monkeypatch.setenv("KRB5CCNAME", f"FILE:{ccache}.missing")  # no ticket
    seen["no ticket"] = check_fails(kerberos_env, capsys, "HVCLUSTER", "no Kerberos ticket", "kinit")
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{ccache}")

    ccache.unlink()  # a ticket that has expired
    kerberos_env.dc.run(["kinit", "-l", "2s", "Administrator@CONTOSO.LOCAL"], {"KRB5CCNAME": f"FILE:{ccache}"},
                        input=ADMIN_PASSWORD + "\n", check=True)
    time.sleep(3)
    seen["expired"] = check_fails(kerberos_env, capsys, "HVCLUSTER", "expired", "kinit")

    kerberos_env.kinit()
    skew_ticket_cache(ccache, 3600)  # this machine's clock an hour ahead of the KDC and the hosts
    seen["skew"] = check_fails(kerberos_env, capsys, "HVCLUSTER", "clocks", "5 minutes")

    kerberos_env.kinit()
    kerberos_env.dc.stop()  # the KDC is down (the TGT is in hand, the service tickets are not)
    try:
        seen["kdc down"] = check_fails(kerberos_env, capsys, "HVCLUSTER", "no KDC for CONTOSO.LOCAL", "port 88")
    finally:
        kerberos_env.dc.restart()
    assert not [r for r in endpoint.requests if r.auth], "no ticket was presented in any of these"
    for name, line in seen.items():
        record_property(name, line)


def gateway(cluster: LabCluster, auth: str, transport: str, resolve=None) -> PsrpHostGateway:
    settings = WinRMSettings(transport=transport, auth=auth, domain=DNS_DOMAIN, timeout_s=5,
                             username=LOCAL_USER if auth == "negotiate" else None,
                             password=LOCAL_PASSWORD if auth == "negotiate" else None,
                             cert_validation=str(cluster.pki.ca_file))
    found = PsrpHostGateway(settings, seeds=cluster.hosts, resolve=resolve or cluster.resolve)
    cluster.gateways.append(found)
    return found


def reports(lab: KerberosLab, gw: PsrpHostGateway) -> dict[str, str | None]:
    with lab.dc.inside():
        return {h: gw.host_report(h).error for h in ("HV01", "HV02", "HV03", "HV04")}


@pytest.fixture
def per_host(kerberos_env: KerberosLab, lab_dir: Path) -> Iterator[LabCluster]:
    """One listener per host (own port), so one host can be misconfigured while the others are right."""
    cluster = LabCluster(lab_dir, https=False, windows=WindowsAuth())
    yield cluster
    cluster.__exit__(None, None, None)


def start(cluster: LabCluster, lab: KerberosLab) -> None:
    with lab.dc.inside():
        cluster.__enter__()


def by_fqdn(cluster: LabCluster, address_for: str = ""):
    """Connect by FQDN (resolved to the host's listener); ``address_for`` is named by its address instead."""
    def resolve(host: str) -> tuple[str, int]:
        address, port = cluster.resolve(host)
        return (address if host.upper() == address_for else f"{host.lower()}.{DNS_DOMAIN}"), port
    return resolve


def test_a_host_named_by_address_has_no_spn_and_the_others_still_report(per_host, kerberos_env, monkeypatch) -> None:
    start(per_host, kerberos_env)
    found = reports(kerberos_env, gateway(per_host, "kerberos", "http", by_fqdn(per_host, "HV03")))
    assert found["HV01"] is None and found["HV02"] is None and found["HV04"] is None, found
    assert found["HV03"].startswith("HV03: the KDC has no SPN HTTP/127.0.0.1: Kerberos needs the host's FQDN")
    assert not [r for r in per_host.endpoints["HV03"].requests if r.auth]


def test_a_basic_only_host_and_a_plaintext_listener_are_refused(per_host, kerberos_env) -> None:
    per_host.endpoints["HV02"].windows = WindowsAuth(offer=("Basic",))
    per_host.endpoints["HV03"].windows = WindowsAuth(plaintext_replies=True)
    start(per_host, kerberos_env)
    found = reports(kerberos_env, gateway(per_host, "kerberos", "http", by_fqdn(per_host)))
    assert found["HV01"] is None and found["HV04"] is None, found
    assert found["HV02"].startswith("HV02: the host offers only Basic authentication; enable Kerberos and Negotiate")
    assert found["HV03"].startswith("HV03: the WinRM listener answered in clear over HTTP")
    hv03 = per_host.endpoints["HV03"].requests
    assert [r.content_type.startswith("multipart/encrypted") for r in hv03 if r.action != "?"] == [True]
    assert [r.auth for r in per_host.endpoints["HV02"].requests] == [""]  # nothing offered that it could use


@pytest.mark.parametrize("transport", ["http", "https"])
def test_a_wrong_password_is_refused_and_never_sent(per_host, kerberos_env, transport) -> None:
    cluster = LabCluster(per_host.lab_dir, https=transport == "https", windows=WindowsAuth())
    start(cluster, kerberos_env)
    try:
        settings = WinRMSettings(transport=transport, auth="negotiate", domain=DNS_DOMAIN, timeout_s=5,
                                 username=LOCAL_USER, password="Wrong-Pa55!", cert_validation=str(cluster.pki.ca_file))
        gw = PsrpHostGateway(settings, seeds=cluster.hosts, resolve=by_fqdn(cluster))
        cluster.gateways.append(gw)
        found = reports(kerberos_env, gw)
    finally:
        cluster.__exit__(None, None, None)
    for host, error in found.items():
        assert error == (f"{host}: WinRM refused the credentials of {LOCAL_USER} (negotiate): wrong password? Save "
                         "the right one in the console's profile screen (it goes to the OS keyring) and retry"), error
    for endpoint in cluster.endpoints.values():
        records = endpoint.requests
        assert any(b"NTLMSSP\x00\x03" in tokens(r) for r in records)
        assert not any(b"Wrong-Pa55!" in r.wire or ntowfv1("Wrong-Pa55!") in r.wire for r in records)
        assert all(r.status == 401 for r in records)


@pytest.mark.parametrize("wired", [("kerberos", "http")], indirect=True, ids=["kerberos-http"])
async def test_the_console_reads_the_cluster_over_kerberos_http(wired: LabCluster, kerberos_env: KerberosLab) -> None:
    from lmdoctor.services.operations.session import open_profile
    from lmdoctor.tui.app import LmDoctorApp
    from scripts.console_scenes import settle

    with kerberos_env.dc.inside():  # the console's worker threads start here, so they reach the KDC too
        session = open_profile(profiles.load(PROFILE), prompt=lambda _label: pytest.fail("asked for a password"))
        app = LmDoctorApp(session)
        async with app.run_test(size=(140, 44)) as pilot:
            await settle(pilot, lambda: app.snapshot is not None or app.inventory.error is not None, timeout=30)
            assert app.inventory.error is None
            assert [(n.name, n.host.reachable) for n in app.snapshot.nodes] == [
                (h, True) for h in ("HV01", "HV02", "HV03", "HV04")]
            assert "delegation.missing:HV01:HV02" in {f.id for f in app.findings}
    assert_wire_is_clean(wired.endpoints["HV01"].requests, "http")
    assert not [r for r in wired.endpoints["HV01"].requests if b"NTLMSSP" in tokens(r)]
