"""Every lab scenario built on a real Samba AD DC: `lmdoctor check --profile samba --json` reports exactly
the scenario's findings.

The CLI runs in-process, unchanged, with a saved profile and the bind password in the real OS keyring.
The one seam is the host side: there are no Hyper-V hosts, so the PSRP gateway module is replaced by
one whose ``PsrpHostGateway.from_profile`` returns the lab's simulated hosts for the scenario.
"""

from __future__ import annotations

import json

import pytest

from lmdoctor.cli import commands as cli
from lmdoctor.services.storage import credentials, profiles
from tests.samba.scenarios import build_on_dc, finding_keys, machine_password, use_lab_hosts

pytestmark = pytest.mark.samba


EXPECTED: dict[str, set[tuple[str, str | None, str | None]]] = {
    "seed": {("delegation.missing", "HV01", "HV02"), ("delegation.wrong_object", "HV02", "HV02")},
    "healthy": set(),
    "kerberos-only": {("delegation.kerberos_only", n, None) for n in ("HV01", "HV02", "HV03", "HV04")},
    "duplicate-spn": {("spn.duplicate", "HV02-OLD", "HV02")},
    "stale-dns": {("dns.stale", "HV02", None)},
    "auth-mismatch": {("auth.mismatch", None, "HV02")},
    "migration-disabled": {("migration.disabled", "HV02", None)},
    "stale-tickets": {("tickets.stale", "HV01", None), ("tickets.stale", "HV02", None)},
    "unconstrained": {("delegation.unconstrained", "HV03", None)},
    "fqdn-only": {("delegation.missing", "HV01", "HV02")},
    "rbcd": set(),
    "near-miss": {("delegation.missing", "HV01", "HV02"), ("delegation.near_miss", "HV01", None)},
    "cno-delegation": {("delegation.missing", "HV01", "HV02"), ("delegation.wrong_object", "HVCLUSTER", None)},
    "protected-operator": {("operator.not_delegable", None, None)},  # read through tokenGroups, nested
    "clock-skew": {("clock.skew", "HV02", None)},  # against the DC's RootDSE currentTime
    "rc4-only": {("kerberos.no_aes", "HV02", None)},
    "smb-storage": {("storage.smb_delegation", f"HV0{i}", "FS01") for i in range(1, 5)},
}


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_check_on_the_dc_reports_exactly_the_scenarios_findings(
        scenario, fresh_dc, samba_profile, tmp_path, monkeypatch, capsys) -> None:
    built = build_on_dc(fresh_dc, scenario, tmp_path / "lab")
    use_lab_hosts(built.lab_dir, monkeypatch)
    if built.lab.hosts.operator:  # the scenario starts moves as its own account: the profile's WinRM user
        profiles.save(samba_profile.model_copy(update={"winrm_user": built.lab.hosts.operator}))
        credentials.set_password(samba_profile.name, built.lab.hosts.operator, machine_password("t0.admin"))
    monkeypatch.setattr(cli.credentials, "ask_on_terminal", lambda _label: pytest.fail("asked for a password"))
    with fresh_dc.inside():  # the DC listens in its own network namespace
        code = cli.main(["check", "--profile", "samba", "--json"])
    out = capsys.readouterr().out
    document = json.loads(out)
    assert finding_keys(document["findings"]) == EXPECTED[scenario], json.dumps(document["findings"], indent=1)
    assert code == (1 if any(f["severity"] == "error" for f in document["findings"]) else 0)
    assert [n["name"] for n in document["nodes"]] == ["HV01", "HV02", "HV03", "HV04"]
    if scenario == "duplicate-spn":  # a true duplicate on the DC, both holders named
        dup = next(f for f in document["findings"] if f["code"] == "spn.duplicate")
        assert any("HOST/HV02.contoso.local" in e and "HV02-OLD" in e for e in dup["evidence"])
        assert sorted(fresh_dc.spn_owners("HOST/HV02.contoso.local")) == sorted(
            [built.computers["HV02"], built.computers["HV02-OLD"]])
    if scenario == "stale-dns":  # the stale record is dynamic (has a timestamp), the live one too
        stale = next(f for f in document["findings"] if f["code"] == "dns.stale")
        assert any("10.0.10.13 (dynamic, timestamp" in e for e in stale["evidence"])
