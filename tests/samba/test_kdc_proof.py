"""The KDC's own verdict: lmdoctor's fix, applied with `lmdoctor fix --profile` against a real Samba AD DC,
turns a refused S4U2Self + S4U2Proxy request (the source host's keytab, impersonating Administrator,
to cifs/<destination>) into a granted one, and `lmdoctor rollback` makes it refused again.

Samba's KDC cannot issue tickets for SPNs containing spaces ("Server not found in Kerberos database"),
so the "Microsoft Virtual System Migration Service/<destination>" values are checked over LDAP only;
the tickets are requested for cifs/<destination> (short name and FQDN), which the KDC serves through
the destination's HOST/ SPN.

The CLI runs in-process with a saved profile and the password in the OS keyring; the host side is the
lab's simulated hosts (see tests/samba/scenarios.use_lab_hosts).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmdoctor.cli import commands as cli
from lmdoctor.services.backends.lab.state import LabStore
from lmdoctor.services.domain.models import VSMS, PerformanceOption
from tests.samba.harness import SambaDC
from tests.samba.scenarios import KdcAuthority, build_on_dc, use_lab_hosts

pytestmark = pytest.mark.samba

HV02_CIFS = ["cifs/HV02.contoso.local", "cifs/HV02"]
HV02_VSMS = {f"{VSMS}/HV02", f"{VSMS}/HV02.contoso.local"}


def verdicts(dc: SambaDC, keytab: Path, source: str, spns: list[str]) -> dict[str, tuple[bool, str]]:
    return {spn: dc.s4u_proxy(keytab, f"{source}$", "Administrator", spn) for spn in spns}


def delegation(dc: SambaDC, dn: str) -> set[str]:
    return set(dc.read(dn, ["msDS-AllowedToDelegateTo"])["msDS-AllowedToDelegateTo"])


def check_and_fix(dc: SambaDC, finding: str, capsys) -> str:
    """`lmdoctor check` reports `finding`; `lmdoctor fix --finding` applies it; returns the journal batch."""
    with dc.inside():
        assert cli.main(["check", "--profile", "samba", "--json"]) == 1
    found = {f["id"] for f in json.loads(capsys.readouterr().out)["findings"]}
    assert finding in found, found
    with dc.inside():
        code = cli.main(["fix", "--profile", "samba", "--finding", finding, "--reason", "CHG-7 KDC proof", "--yes",
                         "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["applied"] >= 1 and not report["failed"], report
    return report["batch"]


def roll_back(dc: SambaDC, capsys) -> None:
    with dc.inside():
        assert cli.main(["rollback", "--profile", "samba", "--last", "--yes", "--reason", "CHG-7 back out"]) == 0
    assert "rolled back" in capsys.readouterr().err


def test_missing_delegation_fix_is_granted_by_the_kdc_and_rollback_refuses_again(
        fresh_dc, samba_profile, tmp_path, monkeypatch, capsys) -> None:
    built = build_on_dc(fresh_dc, "seed", tmp_path / "lab")
    use_lab_hosts(built.lab_dir, monkeypatch)
    keytab = fresh_dc.export_keytab("HV01$", tmp_path / "hv01.keytab")
    hv01 = built.computers["HV01"]

    control = fresh_dc.s4u_proxy(keytab, "HV01$", "Administrator", "cifs/HV03.contoso.local")
    assert control[0], control[1]  # HV01 may already delegate to HV03: the keytab and S4U path work
    for spn, (granted, detail) in verdicts(fresh_dc, keytab, "HV01", HV02_CIFS).items():
        assert not granted and "can't fulfill requested option" in detail, (spn, detail)

    check_and_fix(fresh_dc, "delegation.missing:HV01:HV02", capsys)
    for spn, (granted, detail) in verdicts(fresh_dc, keytab, "HV01", HV02_CIFS).items():
        assert granted and spn in detail, (spn, detail)
    assert HV02_VSMS <= delegation(fresh_dc, hv01)  # LDAP only: the KDC cannot ticket SPNs with spaces

    roll_back(fresh_dc, capsys)
    for spn, (granted, detail) in verdicts(fresh_dc, keytab, "HV01", HV02_CIFS).items():
        assert not granted and "can't fulfill requested option" in detail, (spn, detail)
    assert not HV02_VSMS & delegation(fresh_dc, hv01)


def test_protocol_transition_fix_is_granted_by_the_kdc_and_rollback_refuses_again(
        fresh_dc, samba_profile, tmp_path, monkeypatch, capsys) -> None:
    """Kerberos-only delegation: S4U2Self yields a non-forwardable ticket, so S4U2Proxy is refused."""
    built = build_on_dc(fresh_dc, "kerberos-only", tmp_path / "lab")
    use_lab_hosts(built.lab_dir, monkeypatch)
    keytab = fresh_dc.export_keytab("HV01$", tmp_path / "hv01.keytab")
    assert {"cifs/HV02.contoso.local", f"{VSMS}/HV02.contoso.local"} <= delegation(fresh_dc, built.computers["HV01"])
    assert not any(granted for granted, _ in verdicts(fresh_dc, keytab, "HV01", HV02_CIFS).values())

    check_and_fix(fresh_dc, "delegation.kerberos_only:HV01:-", capsys)
    assert all(granted for granted, _ in verdicts(fresh_dc, keytab, "HV01", HV02_CIFS).values())

    roll_back(fresh_dc, capsys)
    assert not any(granted for granted, _ in verdicts(fresh_dc, keytab, "HV01", HV02_CIFS).values())


def move(dc: SambaDC, vm: str, capsys) -> tuple[int, str]:
    with dc.inside():
        code = cli.main(["migrate", "--profile", "samba", "--vm", vm, "--to", "HV02", "--json", "--yes", "--reason", "CHG-1"])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_lab_move_vm_is_decided_by_the_kdc_before_the_fix_after_it_and_after_rollback(
        fresh_dc, samba_profile, tmp_path, monkeypatch, capsys) -> None:
    """With the SMB performance option a move needs delegation to cifs/<destination>; the lab's hosts ask the
    KDC for it, so the test Move-VM fails, succeeds and fails again for the KDC's reasons."""
    built = build_on_dc(fresh_dc, "seed", tmp_path / "lab")
    store = LabStore(built.lab_dir)
    state = store.load_hosts()
    for host in state.hosts.values():
        host.settings = host.settings.model_copy(update={"performance_option": PerformanceOption.SMB})
    store.save_hosts(state)
    kdc = KdcAuthority(fresh_dc, tmp_path)
    use_lab_hosts(built.lab_dir, monkeypatch, kdc)

    code, text = move(fresh_dc, "APP01", capsys)
    assert code == 1 and "0x8009030E" in text, text
    assert kdc.asked and not kdc.asked[-1][1] and "can't fulfill requested option" in kdc.asked[-1][2], kdc.asked
    assert kdc.asked[-1][0] == "cifs/HV02"  # the move is addressed by the short name: the KDC is asked for that SPN

    check_and_fix(fresh_dc, "delegation.missing:HV01:HV02", capsys)
    kdc.asked.clear()
    code, text = move(fresh_dc, "APP01", capsys)
    assert code == 0, text
    assert kdc.asked and all(granted for _spn, granted, _detail in kdc.asked), kdc.asked

    roll_back(fresh_dc, capsys)
    kdc.asked.clear()
    code, text = move(fresh_dc, "APP02", capsys)
    assert code == 1 and "0x8009030E" in text, text
    assert kdc.asked and not any(granted for _spn, granted, _detail in kdc.asked), kdc.asked


def check_json(dc: SambaDC, capsys) -> tuple[int, dict]:
    with dc.inside():
        code = cli.main(["check", "--profile", "samba", "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_fqdn_only_delegation_the_kdc_grants_the_fqdn_and_refuses_the_short_name_and_so_does_lmdoctor(
        fresh_dc, samba_profile, tmp_path, monkeypatch, capsys) -> None:
    """Only the FQDN values: the KDC grants cifs/HV02.contoso.local and refuses cifs/HV02. lmdoctor says a
    move addressed as HV02 fails (a warning, exit 0: addressed by FQDN it works) and the lab's test move, decided
    by the KDC, fails by short name and succeeds by FQDN."""
    built = build_on_dc(fresh_dc, "fqdn-only", tmp_path / "lab")
    store = LabStore(built.lab_dir)
    state = store.load_hosts()
    for host in state.hosts.values():
        host.settings = host.settings.model_copy(update={"performance_option": PerformanceOption.SMB})
    store.save_hosts(state)
    kdc = KdcAuthority(fresh_dc, tmp_path)
    use_lab_hosts(built.lab_dir, monkeypatch, kdc)
    code, doc = check_json(fresh_dc, capsys)  # before the keytab export, which writes HV01's account
    (f,) = [f for f in doc["findings"] if f["id"] == "delegation.missing:HV01:HV02"]
    assert f["severity"] == "warning" and "a move addressed as HV02 fails" in f["message"], f
    assert code == 0, [(x["id"], x["severity"]) for x in doc["findings"]]

    keytab = fresh_dc.export_keytab("HV01$", tmp_path / "HV01.keytab")
    judged = verdicts(fresh_dc, keytab, "HV01", HV02_CIFS)
    assert judged["cifs/HV02.contoso.local"][0], judged
    assert not judged["cifs/HV02"][0] and "can't fulfill requested option" in judged["cifs/HV02"][1], judged

    code, text = move(fresh_dc, "APP01", capsys)
    assert code == 1 and "0x8009030E" in text and kdc.asked[-1][:2] == ("cifs/HV02", False), kdc.asked
    with fresh_dc.inside():
        code = cli.main(["migrate", "--profile", "samba", "--vm", "APP01", "--to", "HV02.contoso.local", "--json", "--yes",
                         "--reason", "CHG-1"])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert kdc.asked[-1][:2] == ("cifs/HV02.contoso.local", True), kdc.asked


def test_near_misses_cover_nothing_for_the_kdc_and_lmdoctor_names_what_they_meant(
        fresh_dc, samba_profile, tmp_path, monkeypatch, capsys) -> None:
    """`cifs/HV02.contoso.local.` (trailing dot) and `cifs/` are stored on HV01, yet the KDC refuses both
    cifs/HV02 SPNs; lmdoctor reports the gap as an error and points out each near miss with its meaning."""
    built = build_on_dc(fresh_dc, "near-miss", tmp_path / "lab")
    use_lab_hosts(built.lab_dir, monkeypatch)
    stored = delegation(fresh_dc, built.computers["HV01"])
    assert {"cifs/HV02.contoso.local.", "cifs/", f"{VSMS}/HV2"} <= stored
    keytab = fresh_dc.export_keytab("HV01$", tmp_path / "hv01.keytab")
    for spn, (granted, detail) in verdicts(fresh_dc, keytab, "HV01", HV02_CIFS).items():
        assert not granted and "can't fulfill requested option" in detail, (spn, detail)

    code, doc = check_json(fresh_dc, capsys)
    assert code == 1
    (near,) = [f for f in doc["findings"] if f["code"] == "delegation.near_miss"]
    evidence = "\n".join(near["evidence"])
    assert "“cifs/HV02.contoso.local.” covers nothing (a trailing dot after the host name); most likely meant " \
           "cifs/HV02.contoso.local" in evidence, evidence
    assert "“cifs/” covers nothing" in evidence and "most likely meant cifs/HV02" in evidence
    assert f"most likely meant {VSMS}/HV02" in evidence
    (missing,) = [f for f in doc["findings"] if f["id"] == "delegation.missing:HV01:HV02"]
    assert missing["severity"] == "error" and any("near miss" in e for e in missing["evidence"])
