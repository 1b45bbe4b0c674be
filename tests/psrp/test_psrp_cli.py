"""`lmdoctor … --profile` end to end over WinRM/PSRP.

The profile, the keyring lookup of the WinRM password, PsrpHostGateway.from_profile, the CLI and
every host command are real; two things stand in for a data centre: the directory is the lab
directory (a profile's directory side needs a real domain controller), and the host names
hvNN.contoso.local resolve to 127.0.0.1, where one HTTPS endpoint (the lab CA, SANs for every
host) serves each host by the HTTP Host header.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmdoctor.cli.commands import main
from lmdoctor.services.backends.lab.directory import LabDirectory
from lmdoctor.services.backends.lab.state import LabStore
from lmdoctor.services.operations import lab_admin as manage
from lmdoctor.services.storage import credentials, profiles
from lmdoctor.services.storage.profiles import Profile
from tests.psrp.endpoint.lab_cluster import PASSWORD, USERNAME, LabCluster

pytestmark = [pytest.mark.psrp, pytest.mark.keyring]

PROFILE = "wire"


@pytest.fixture
def wired(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LabCluster]:
    lab_dir = tmp_path / "lab"
    manage.reset(lab_dir, "seed")
    real_getaddrinfo = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        if isinstance(host, str) and host.lower().endswith(".contoso.local"):
            host = "127.0.0.1"
        return real_getaddrinfo(host, port, *args, **kwargs)

    with LabCluster(lab_dir, shared=True) as cluster:
        endpoint = cluster.endpoints["HV01"]
        profiles.save(Profile(name=PROFILE, domain="contoso.local", dc="dc01.contoso.local",
                              bind_user="Administrator@contoso.local", directory_auth="kerberos",
                              cluster="HVCLUSTER", winrm_transport="https", winrm_port=endpoint.port,
                              winrm_auth="basic", winrm_user=USERNAME, winrm_ca_file=cluster.pki.ca_file,
                              timeout_s=5))
        credentials.set_password(PROFILE, USERNAME, PASSWORD)
        monkeypatch.setattr(socket, "getaddrinfo", resolve)
        monkeypatch.setattr("lmdoctor.services.backends.directory.connect.connect",
                            lambda profile, password: LabDirectory(LabStore(lab_dir)))
        try:
            yield cluster
        finally:
            credentials.delete_password(PROFILE, USERNAME)


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_fix_and_migrate_with_a_profile(wired: LabCluster, tmp_path: Path, capsys) -> None:
    code, out, _ = _run(capsys, "check", "--profile", PROFILE, "--json")
    doc = json.loads(out)
    demo_dir = tmp_path / "demo"
    manage.reset(demo_dir, "seed")
    demo_code, demo_out, _ = _run(capsys, "check", "--demo", "--lab-dir", str(demo_dir), "--json")
    demo = json.loads(demo_out)
    assert code == demo_code == 1
    # the profile's WinRM user (the endpoint's) has no account in the lab directory: said, not guessed
    assert sorted(f["id"] for f in doc["findings"]) == sorted([f["id"] for f in demo["findings"]] + ["operator.unknown:-:-"])
    assert [n["name"] for n in doc["nodes"]] == ["HV01", "HV02", "HV03", "HV04"]
    assert all(n["reachable"] and n["auth_type"] == "Kerberos" for n in doc["nodes"])
    endpoint = wired.endpoints["HV01"]
    assert {r.action for r in endpoint.requests} >= {"Create", "Receive", "Command", "Signal", "Delete"}
    assert wired.received("HV01")[0].name == "Get-ClusterNode"  # asked of HVCLUSTER, served by its owner node
    for host in ("HV01", "HV02", "HV03", "HV04"):  # each host's shell was served by that host's handler
        assert [c.name for c in wired.received(host)].count("Get-VMHost") == 1

    code, out, _ = _run(capsys, "migrate", "--profile", PROFILE, "--vm", "APP01", "--to", "HV02", "--what-if", "--json")
    assert code == 1 and "0x8009030E" in json.loads(out)["error"]

    code, out, _ = _run(capsys, "fix", "--profile", PROFILE, "--all", "--reason", "CHG-9 delegation", "--yes", "--json")
    report = json.loads(out)
    assert code == 0 and report["applied"] >= 1 and "HV01" in report["purged"]

    code, out, err = _run(capsys, "migrate", "--profile", PROFILE, "--vm", "APP01", "--to", "HV02",
                            "--yes", "--reason", "CHG-1")
    assert code == 0, err
    assert "100%" in err and "OK: APP01 moved HV01 → HV02 and is verified there" in out
    assert "APP01" in [vm.name for vm in LabStore(wired.lab_dir).load_hosts().hosts["HV02"].vms]


def test_unreachable_hosts_make_check_exit_2_or_report_them(wired: LabCluster, capsys) -> None:
    wired.endpoints["HV01"].fault = "http_500"  # the one endpoint: every host answers 500
    code, _, err = _run(capsys, "check", "--profile", PROFILE, "--json")
    assert code == 2 and "no cluster node answered Get-ClusterNode" in err and "HTTP 500" in err


def test_tour_with_a_profile_stops_at_the_hosts_error_with_the_blackout_the_host_logged(wired: LabCluster,
                                                                                         capsys) -> None:
    code, out, err = _run(capsys, "tour", "--profile", PROFILE, "--vm", "WEB01", "--reason", "CHG-12 tour", "--yes")
    assert code == 1, err
    lines = out.splitlines()
    first, failed = lines[2].split(), lines[3].split()
    assert first[:4] == ["1", "HV03", "HV01", "passed"] and first[6:8] == ["44", "ms"]  # from VMMS-Admin 20415
    assert first[8:] == ["—", "—"]  # no transferred bytes from Windows, so no throughput
    assert failed[:5] == ["2", "HV01", "HV02", "FAILED", "(pre-flight)"]
    assert "No credentials are available in the security package (0x8009030E)." in out
    assert "WEB01 is on HV01." in out
    assert "WEB01" in [vm.name for vm in LabStore(wired.lab_dir).load_hosts().hosts["HV01"].vms]
