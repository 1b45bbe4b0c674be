"""The loopback endpoint as a Windows WinRM listener, with NTLM (no KDC needed): Negotiate per connection,
sealed bodies over HTTP, a plaintext body refused as Windows refuses it, and lmdoctor refusing a reply in
clear. The Kerberos side runs against the Samba KDC in tests/samba/test_winrm_auth.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import RunspacePool
from pypsrp.wsman import WSMan

from lmdoctor.services.backends.hosts.psrp import PsrpHostGateway, WinRMSettings
from tests.psrp.endpoint import Output, PsrpEndpoint
from tests.psrp.endpoint.winauth import WindowsAuth

pytestmark = pytest.mark.psrp

USER, PASSWORD = "hvadmin", "Local-Hv-Pa55!"


def answer(commands):
    yield Output(f"{commands[0].name} ran")


@pytest.fixture(autouse=True)
def ntlm_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    users = tmp_path / "ntlm-users"
    users.write_text(f":{USER}:{PASSWORD}\n")
    monkeypatch.setenv("NTLM_USER_FILE", str(users))


@pytest.fixture
def listener(request) -> Iterator[PsrpEndpoint]:
    https, windows = getattr(request, "param", (False, WindowsAuth()))
    with PsrpEndpoint(answer, https=https, windows=windows) as endpoint:
        yield endpoint


def gateway(endpoint: PsrpEndpoint, password: str = PASSWORD) -> PsrpHostGateway:
    settings = WinRMSettings(transport="https" if endpoint.https else "http", auth="negotiate", username=USER,
                             password=password, cert_validation=str(endpoint.ca_file) if endpoint.https else True,
                             timeout_s=5)
    return PsrpHostGateway(settings, resolve=lambda host: (endpoint.host, endpoint.port))


def test_negotiate_over_http_seals_every_body_both_ways(listener: PsrpEndpoint) -> None:
    gw = gateway(listener)
    try:
        assert gw._call("HV01", "Get-Date") == ["Get-Date ran"]
    finally:
        gw.close()
    records = listener.requests
    assert [r.status for r in records[:3]] == [401, 401, 200]  # challenge, NTLM CHALLENGE, authenticated empty POST
    bodies = [r for r in records if r.action != "?"]
    assert {r.action for r in bodies} >= {"Create", "Command", "Receive", "Delete"}
    assert all(r.content_type.startswith('multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted"')
               and r.reply_type.startswith("multipart/encrypted") for r in bodies)
    assert not any(b"Get-Date" in r.wire or PASSWORD.encode() in r.wire for r in records)
    assert not any(r.auth for r in bodies)  # authenticated once per connection, as HTTP.sys does


def test_a_plaintext_body_over_http_gets_http_500_and_an_access_denied_fault(listener: PsrpEndpoint) -> None:
    # pypsrp with encryption="never" sends the SOAP body in clear after authenticating, as clients that
    # cannot seal do; Windows (AllowUnencrypted = false) answers HTTP 500.
    kwargs = listener.wsman_kwargs(auth="ntlm", username=USER, password=PASSWORD, encryption="never")
    with WSMan(**kwargs) as wsman, pytest.raises(WSManFaultError) as info:
        RunspacePool(wsman).open()
    assert info.value.code == 5 and "unencrypted traffic is disabled" in info.value.reason
    refused = listener.requests[-1]
    assert refused.status == 500 and refused.content_type.startswith("application/soap+xml")


@pytest.mark.parametrize("listener", [(True, WindowsAuth())], indirect=True)
def test_negotiate_over_https_is_not_sealed(listener: PsrpEndpoint) -> None:
    gw = gateway(listener)
    try:
        assert gw._call("HV01", "Get-Date") == ["Get-Date ran"]
    finally:
        gw.close()
    bodies = [r for r in listener.requests if r.action != "?"]
    assert bodies and all(r.content_type.startswith("application/soap+xml") for r in bodies)


@pytest.mark.parametrize("listener", [(False, WindowsAuth(plaintext_replies=True))], indirect=True)
def test_a_reply_in_clear_over_http_is_refused(listener: PsrpEndpoint) -> None:
    gw = gateway(listener)
    try:
        report = gw.host_report("HV01")
    finally:
        gw.close()
    assert not report.reachable
    assert report.error.startswith("HV01: the WinRM listener answered in clear over HTTP (HTTP 200 reply in clear")
    assert [r.action for r in listener.requests if r.action != "?"] == ["Create"]  # nothing after the first reply


def test_a_wrong_password_is_one_line(listener: PsrpEndpoint) -> None:
    gw = gateway(listener, password="Wrong-Pa55!")
    try:
        report = gw.host_report("HV01")
    finally:
        gw.close()
    assert report.error == (f"HV01: WinRM refused the credentials of {USER} (negotiate): wrong password? Save the "
                            "right one in the console's profile screen (it goes to the OS keyring) and retry")
