"""Directory and cluster values a damaged or hostile domain holds never end in a traceback: each is set aside,
reported as a finding on the object holding it (the raw value shown safely), and the rest of the check runs.

The classes: bytes that are not UTF-8 in servicePrincipalName, msDS-AllowedToDelegateTo or dNSHostName;
a dNSHostName with a port (AD stores any Unicode string up to 2048 characters there: MS-ADA1 2.185,
https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-ada1/a7b140ad-06f1-420d-90b7-704f689e0032);
a malformed dnsRecord blob or msDS-AllowedToActOnBehalfOfOtherIdentity descriptor; no userAccountControl;
a cluster node name with NUL, ':' or 2 000 characters.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from lmdoctor.services.backends.directory import dnsrecord
from lmdoctor.services.backends.directory.ldap import LdapDirectory
from lmdoctor.services.backends.hosts import psobjects
from lmdoctor.services.backends.hosts.base import HostError, HostUnreachable
from lmdoctor.services.backends.hosts.psrp import PsrpHostGateway, WinRMSettings
from lmdoctor.services.backends.lab.directory import LabDirectory, mock_connection
from lmdoctor.services.backends.lab.hosts import LabHostGateway
from lmdoctor.services.backends.lab.scenarios import BASE_DN, CLUSTER, COMPUTERS, DOMAIN, build
from lmdoctor.services.backends.lab.state import LabStore
from lmdoctor.services.domain.badvalues import ValueCheck, node_name_problem, shown, usable_nodes
from lmdoctor.services.domain.diagnosis import diagnose, has_errors
from lmdoctor.services.domain.lines import Line
from lmdoctor.services.domain.matrix import evidence, matrix
from lmdoctor.services.domain.models import ClusterNode, FixAction
from lmdoctor.services.operations import lab_admin as manage
from lmdoctor.services.operations.inventory import take_snapshot
from lmdoctor.services.operations.remediation import RemediationError, Remediator
from tests.support.bad_values import CASES, ESC_CLEAR, plant
from tests.support.cli_lab import SEED_IDS

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)


def snapshot_over(directory: LdapDirectory, root: Path, *host_cases: str):
    """A snapshot of `directory` with the seed lab's hosts in `root` (with `host_cases` planted there)."""
    manage.reset(root, "seed", NOW)
    plant(root, *host_cases)
    return take_snapshot(directory, LabHostGateway(LabStore(root), directory, step_delay=0), CLUSTER)


class MockDcDirectory(LdapDirectory):
    """LdapDirectory over the lab's mock DIT, which has no RootDSE clock (the lab keeps this machine's time)."""

    dc_clock_offset = LabDirectory.dc_clock_offset


def directory_with(*cases: str) -> LdapDirectory:
    lab = build("seed", NOW)
    for case in cases:
        CASES[case][0](lab.entries, lab.hosts)
    return MockDcDirectory(mock_connection(lab.entries), DOMAIN, BASE_DN)


# --- one class at a time, at the directory ----------------------------------------------------------------
@pytest.mark.parametrize("case", [c for c in CASES if not c.startswith("node-")])
def test_a_bad_directory_value_is_set_aside_and_the_rest_of_the_object_is_read(case):
    directory = directory_with(case)
    view = directory.read_cluster(["HV01", "HV02", "HV03", "HV04"], [], [], CLUSTER)
    hv03 = next(a for a in view.accounts if a.name == "HV03")
    bad = list(hv03.bad_values) + [v for v in view.bad_values if v.holder == "HV03"]
    assert [f"{v.attribute} = {v.value}: {v.problem}".startswith(CASES[case][2]) for v in bad] == [True]
    assert bad[0].holder == "HV03" and bad[0].origin == "directory"
    assert len(hv03.spns) >= 12 and len(hv03.allowed_to_delegate_to) == 12  # the good values are all there
    assert not any(a.bad_values for a in view.accounts if a.name != "HV03")
    assert view.dns["HV03"] and view.dns["HV03"][0].address == "10.0.10.13"


def test_what_is_set_aside_is_left_out_of_the_fields():
    directory = directory_with("spn-not-utf8", "delegation-not-utf8", "dnshostname-port", "rbcd-malformed",
                               "uac-missing")
    hv03 = directory.read_computers(["HV03"])[0]
    assert not any("\\x" in v or "\ufffd" in v for v in hv03.spns + hv03.allowed_to_delegate_to)
    assert hv03.dns_host_name is None and hv03.uac is None and hv03.rbcd_principals == ()
    assert hv03.uac_text == "not readable" and not hv03.protocol_transition and not hv03.unconstrained
    assert len(hv03.bad_values) == 5


def test_read_values_never_fails_on_bytes_that_are_not_utf8():
    directory = directory_with("delegation-not-utf8")
    values = directory.read_values(f"CN=HV03,{COMPUTERS}", "msDS-AllowedToDelegateTo")
    assert "cifs/HV\\xfe01\x1b[2J" in values and len(values) == 13


def test_node_names_that_are_not_computer_names_are_set_aside():
    nodes = [ClusterNode(name=n) for n in ("HV01", "HV\x0005", "HV:05", "H" * 2000, "HV.05", "HV 05", "HV-05")]
    usable, bad = usable_nodes(nodes)
    assert [n.name for n in usable] == ["HV01", "HV-05"]
    assert [v.holder for v in bad] == ["HV␀05", "HV:05", "H" * 40 + "… (2000 characters)", "HV.05", "HV 05"]
    assert all(v.origin == "host" for v in bad)
    assert node_name_problem("A" * 63) is None and node_name_problem("A" * 64)


def test_shown_makes_raw_values_safe_and_bounded():
    assert shown(b"HOST/HV\xff03") == "HOST/HV\\xff03"
    assert shown("a\x1b]52;c;SGVsbG8=\x07b") == "a␛]52;c;SGVsbG8=␇b"
    assert shown("x" * 500) == "x" * 120 + "… (500 characters)"
    assert shown(b"\x00\x01", binary=True) == "0x0001"
    assert shown(bytes(100), binary=True) == "0x" + "00" * 48 + "… (100 bytes)"
    assert shown("") == "(empty)"


def test_value_check_integer():
    check = ValueCheck("HV01")
    assert check.integer("userAccountControl", [b"4096"]) == 4096
    assert check.integer("userAccountControl", [b"lots"]) is None
    assert check.integer("userAccountControl", [b"\xff"]) is None
    assert check.integer("userAccountControl", []) is None
    assert [v.problem.split(":")[0] for v in check.bad] == ["not an integer", "not UTF-8 text", "missing"]


# --- diagnosis, the matrix and remediation with what was set aside ---------------------------------------
def test_findings_name_the_holder_and_every_other_rule_still_runs(tmp_path):
    directory = directory_with("spn-not-utf8", "dnsrecord-malformed", "uac-missing")
    snapshot = snapshot_over(directory, tmp_path / "lab", "node-name-colon")
    findings = {f.id: f for f in diagnose(snapshot)}
    assert SEED_IDS <= set(findings)
    hv03 = findings["directory.bad_value:HV03:-"]
    assert hv03.severity == "error" and len(hv03.evidence) == 3 and hv03.message.startswith("HV03:")
    assert findings["host.bad_value:HV:05:-"].severity == "error"
    assert [n.name for n in snapshot.nodes] == ["HV01", "HV02", "HV03", "HV04"]
    assert "delegation.kerberos_only:HV03:-" not in findings  # an unreadable userAccountControl is not judged
    assert has_errors(list(findings.values()))
    lines = evidence(snapshot, matrix(snapshot)[("HV03", "HV01")])
    assert Line("info", "HV03 userAccountControl = not readable: Kerberos only (0x1000000 not set)") in lines


def test_a_bad_value_on_another_object_is_a_warning(tmp_path):
    lab = build("seed", NOW)
    cno = lab.entries[f"CN={CLUSTER},{COMPUTERS}"]
    cno["msDS-AllowedToDelegateTo"] = ["cifs/HV01", b"cifs/HV\xff02"]
    snapshot = snapshot_over(MockDcDirectory(mock_connection(lab.entries), DOMAIN, BASE_DN), tmp_path / "lab")
    found = {f.id: f for f in diagnose(snapshot)}
    assert found[f"directory.bad_value:{CLUSTER}:-"].severity == "warning"
    assert found[f"directory.bad_value:{CLUSTER}:-"].evidence == (
        f"{CLUSTER} msDS-AllowedToDelegateTo = cifs/HV\\xff02: not UTF-8 text",)


def test_changing_bits_of_an_unreadable_user_account_control_is_refused_not_a_traceback():
    action = FixAction(kind="directory.set_uac_bits", target=f"CN=HV03,{COMPUTERS}", attribute="userAccountControl",
                       values=("0x1000000",), description="d", powershell="p")
    with pytest.raises(RemediationError, match="not one readable integer"):
        Remediator.target_value(action, ())
    assert Remediator.target_value(action, ("4096",)) == (str(4096 | 0x1000000),)


def test_a_malformed_dns_record_is_skipped_where_the_lab_hosts_resolve_names():
    directory = directory_with("dnsrecord-malformed")
    assert [r.address for r in directory.read_dns_records(["HV03"])["HV03"]] == ["10.0.10.13"]
    with pytest.raises(dnsrecord.DnsRecordError):
        dnsrecord.parse("HV03", b"\x01\x02garbage")


# --- the whole `check`, as a subprocess, on a lab with each value planted --------------------------------
@pytest.mark.parametrize("case", sorted(CASES))
def test_check_reports_the_bad_value_as_a_finding_and_goes_on(lab, case):
    plant(lab.root, case)
    r = lab.run("check", "--json")
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    found = {f["id"]: f for f in doc["findings"]}
    _, finding_id, shown_as = CASES[case]
    assert finding_id in found, sorted(found)
    bad = found[finding_id]
    assert bad["severity"] == "error" and bad["source"] in bad["message"]
    assert any(shown_as in line for line in bad["evidence"]), bad["evidence"]
    assert not any(ch in line for line in bad["evidence"] for ch in ("\x00", "\x1b")), bad["evidence"]
    assert SEED_IDS <= set(found)  # the rest of the diagnosis ran
    assert [n["name"] for n in doc["nodes"]] == ["HV01", "HV02", "HV03", "HV04"]


def test_every_command_that_reads_the_cluster_survives_all_bad_values_at_once(lab):
    plant(lab.root, *[c for c in CASES if c not in ("dnshostname-port", "node-name-colon")])
    for args in (("check",), ("fix", "--all", "--dry-run"), ("report", "--format", "md"),
                 ("migrate", "--vm", "APP01", "--to", "HV03", "--what-if")):
        r = lab.run(*args)
        assert "Traceback" not in r.stderr, (args, r.stderr)
        assert r.returncode in (0, 1), (args, r.stderr)
    text = lab.run("check").stdout
    assert "directory.bad_value:HV03:-" in text and "host.bad_value:HV␀05:-" in text


# --- host answers with the same kind of damage ------------------------------------------------------------
def gateway(monkeypatch, answers: dict[str, list]) -> PsrpHostGateway:
    """A PSRP gateway whose cmdlets answer `answers[cmdlet]` (no network)."""
    gw = PsrpHostGateway(WinRMSettings(), seeds=["HV01", "HV02"])
    monkeypatch.setattr(gw, "_call", lambda host, cmdlet, *a, **k: answers[f"{host} {cmdlet}"]
                        if f"{host} {cmdlet}" in answers else answers[cmdlet])
    monkeypatch.setattr(gw, "_events", lambda host: ())
    monkeypatch.setattr(gw, "_clock_and_tickets", lambda host: (0.0, None))
    monkeypatch.setattr(gw, "_pipeline", lambda host, *commands: [])
    monkeypatch.setattr(gw, "_run", lambda host, build, progress=None: SimpleNamespace(
        output=answers["Get-VM"], streams=SimpleNamespace(error=[]), state=None))
    return gw


VMHOST = {"VirtualMachineMigrationEnabled": True, "VirtualMachineMigrationAuthenticationType": 1}
DRAIN_FACTS = {"Get-VMProcessor": [], "Get-CimInstance": [], "Get-VMHostSupportedVersion": []}  # none reported


def test_a_cluster_node_without_a_name_makes_that_seed_fail_and_the_next_is_asked(monkeypatch):
    gw = gateway(monkeypatch, {"HV01 Get-ClusterNode": [{"State": 0}],
                               "HV02 Get-ClusterNode": [{"Name": "HV01", "State": 0}]})
    assert [n.name for n in gw.cluster_nodes()] == ["HV01"]
    gw = gateway(monkeypatch, {"Get-ClusterNode": [{"State": 0}]})
    with pytest.raises(HostUnreachable, match="unreadable Get-ClusterNode answer"):
        gw.cluster_nodes()


def test_garbage_host_values_make_the_host_unreadable_not_a_traceback(monkeypatch):
    gw = gateway(monkeypatch, {"Get-VMHost": [{**VMHOST, "MaximumVirtualMachineMigrations": float("inf")}],
                               "Get-VMMigrationNetwork": [], "Get-VM": [], "Get-NetIPAddress": [], **DRAIN_FACTS})
    report = gw.host_report("HV01")
    assert not report.reachable and "unreadable answer" in report.error
    gw = gateway(monkeypatch, {"Get-VMHost": [VMHOST], "Get-VMMigrationNetwork": [], "Get-NetIPAddress": [],
                               **DRAIN_FACTS, "Get-VM": [{"Name": "APP01", "State": {"garbage": ESC_CLEAR}}, {"Name": None}]})
    report = gw.host_report("HV01")  # a VM state that is no VMState is shown as the host's text
    assert report.reachable and report.vms[0].state == str({"garbage": ESC_CLEAR})
    gw = gateway(monkeypatch, {"Get-VM": [{"State": 2}]})
    with pytest.raises(HostError, match="unreadable Get-VM answer"):
        gw.get_vm("HV01", "APP01")


def test_an_event_time_out_of_range_is_an_unreadable_value():
    with pytest.raises(ValueError, match="out of range"):
        psobjects.parse_datetime("0001-01-01T00:00:00+01:00")
    with pytest.raises(ValueError):
        psobjects.host_event({"Id": 21024, "Level": 2, "TimeCreated": "9999-12-31T23:59:59-01:00", "Message": "m"})
