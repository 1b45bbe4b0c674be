"""One severity model for a pair (lmdoctor.services.domain.coverage): findings, matrix, walkthrough and exit code agree.

Windows' rules the model encodes, as Microsoft documents them:
- KCD grants only the SPNs listed in the source's msDS-AllowedToDelegateTo, compared as the exact
  sname of the request, and needs a forwardable (protocol-transition) ticket: MS-SFU 3.2.5.2.1
  "Using ServicesAllowedToSendForwardedTicketsTo",
  https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-sfu/6d76bf10-3c48-4e14-9992-df1bd456455e
- RBCD: the KDC builds a token for the source from the PAC (its SID and its groups) and performs an
  access check against the destination's msDS-AllowedToActOnBehalfOfOtherIdentity; the grant is for
  the destination account, whatever SPN of it is asked: MS-SFU 3.2.5.2.3 "Using
  ServicesAllowedToReceiveForwardedTicketsFrom",
  https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-sfu/dd1b47f9-580c-4c4e-8f34-4485b9728331
  and MS-ADA2 2.218 (the attribute "is used for access checks"; first implemented in Windows Server 2012),
  https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-ada2/cea4ac11-a4b2-4f2d-84cc-aebb4a4ad405
- RBCD accepts a non-forwardable S4U2self ticket (no protocol transition) from a Windows Server 2012
  DC: MS-SFU 3.1.5.2.1 "Sends S4U2proxy KRB_TGS_REQ",
  https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-sfu/ddb2cafd-1f01-4834-b52a-d4a5b34cd960
- An access check denies when a deny ACE names any SID of the token (MS-DTYP 2.5.3.2).
Debian's Samba KDC (a Heimdal build) does not evaluate RBCD, so these rules are proved here; the
reading of the descriptor and of group membership is proved on the Samba DC (tests/samba/).
"""

from __future__ import annotations

import pytest

from lmdoctor.services.backends.lab.scenarios import SCENARIOS
from lmdoctor.services.domain import matrix
from lmdoctor.services.domain.coverage import coverage, rbcd_grant, verdict
from lmdoctor.services.domain.diagnosis import diagnose, has_errors
from lmdoctor.services.domain.models import UAC_WORKSTATION_TRUST_ACCOUNT, VSMS, Severity, VirtualMachine
from lmdoctor.services.operations.inventory import take_snapshot
from tests.support.snapshots import (
    HOSTS_GROUP,
    NAMES,
    NESTED_GROUP,
    SID,
    account,
    cluster,
    fqdn,
    hv01_lacking,
    pair_findings,
    replace,
)


def hv02_granting(*allowed: str, denied: tuple[str, ...] = ()) -> object:
    return account("HV02").model_copy(update={"sid": SID["HV02"], "rbcd_principals": allowed, "rbcd_denied": denied})


SHORT = ("cifs/HV02", f"{VSMS}/HV02")
FQDN = (f"cifs/{fqdn('HV02')}", f"{VSMS}/{fqdn('HV02')}")


# --- name forms ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dropped, failing, works", [(SHORT, "HV02", "HV02.contoso.local"),
                                                     (FQDN, "HV02.contoso.local", "HV02")])
def test_one_name_form_missing_is_a_warning_everywhere_and_names_the_failing_form(dropped, failing, works):
    snap = cluster(HV01=hv01_lacking(*dropped))
    status = matrix.matrix(snap)[("HV01", "HV02")]
    judged = verdict(status)
    assert judged.severity == Severity.WARNING and judged.failing_names == (failing,)
    findings = diagnose(snap)
    (f,) = pair_findings(findings, "HV01", "HV02")
    assert (f.code, f.severity) == ("delegation.missing", Severity.WARNING)
    assert f"addressed as {failing} fails" in f.message and f"only by the name {works}" in f.message
    assert f"addressed as {works} it works" in f.cause
    assert matrix.tone(status) == "warning" and not status.ok
    assert any(line.kind == "fail" and f"a move addressed as {failing} fails" in line.text
               for line in matrix.evidence(snap, status))
    assert not has_errors(findings)  # check exits 0: the move works by the other name


def test_both_forms_missing_is_an_error_everywhere():
    snap = cluster(HV01=hv01_lacking(*SHORT, *FQDN))
    status = matrix.matrix(snap)[("HV01", "HV02")]
    (f,) = pair_findings(diagnose(snap), "HV01", "HV02")
    assert f.severity == Severity.ERROR and matrix.tone(status) == "error"
    assert verdict(status).failing_names == ("HV02", "HV02.contoso.local")
    assert "whether addressed as HV02 or HV02.contoso.local" in f.cause


def test_cifs_missing_by_both_names_is_an_error_in_the_matrix_too():
    snap = cluster(HV01=hv01_lacking("cifs/HV02", f"cifs/{fqdn('HV02')}"))
    status = matrix.matrix(snap)[("HV01", "HV02")]
    (f,) = pair_findings(diagnose(snap), "HV01", "HV02")
    assert f.severity == Severity.ERROR and matrix.tone(status) == "error"


# --- RBCD -------------------------------------------------------------------------------------------
def test_rbcd_naming_the_source_covers_every_service_without_protocol_transition():
    snap = cluster(HV01=hv01_lacking(*SHORT, *FQDN, uac=UAC_WORKSTATION_TRUST_ACCOUNT),
                   HV02=hv02_granting(SID["HV01"]))
    status = matrix.matrix(snap)[("HV01", "HV02")]
    assert status.rbcd == "its own SID" and status.ok and matrix.tone(status) == "ok"
    assert matrix.glyph(status, None) == "●●R·"
    assert any(line.kind == "ok" and line.text.startswith("via RBCD: HV02's msDS-AllowedToActOnBehalfOfOtherIdentity "
                                                           "grants HV01") for line in matrix.evidence(snap, status))
    findings = diagnose(snap)
    assert pair_findings(findings, "HV01", "HV02") == [f for f in findings if f.code == "delegation.kerberos_only"]
    # HV01 is Kerberos-only: RBCD does not need protocol transition, but its KCD to HV03/HV04 does
    assert [f.source for f in findings if f.code == "delegation.kerberos_only"] == ["HV01"]
    assert matrix.fix_findings(snap, [("HV01", "HV02")]) == []


def test_kerberos_only_is_not_reported_when_rbcd_covers_every_peer():
    hv01 = hv01_lacking(uac=UAC_WORKSTATION_TRUST_ACCOUNT)
    grant = {n: account(n).model_copy(update={"sid": SID[n], "rbcd_principals": (SID["HV01"],)})
             for n in NAMES[1:]}
    findings = diagnose(cluster(HV01=hv01, **grant))
    assert not [f for f in findings if f.source == "HV01"]


def test_smb_storage_needs_protocol_transition_even_when_rbcd_covers_every_peer():
    """HV01 is 'Kerberos only' and every peer's RBCD grants it, so it needs no KCD to them; but APP01 lives on
    \\\\FS01\\VMs, and a remote move reaches the share by HV01's KCD to cifs/FS01, which needs protocol
    transition since Windows Server 2016 moved Hyper-V remoting to WinRM ("Live Migration via Constrained
    Delegation with Kerberos in Windows Server 2016",
    https://techcommunity.microsoft.com/t5/virtualization/live-migration-via-constrained-delegation-with-kerberos-in/ba-p/382334).
    The file server's own account is not read, so no RBCD grant on it can be assumed."""
    fs01 = ("cifs/FS01", "cifs/fs01.contoso.local")
    hv01 = hv01_lacking(uac=UAC_WORKSTATION_TRUST_ACCOUNT)
    hv01 = hv01.model_copy(update={"allowed_to_delegate_to": hv01.allowed_to_delegate_to + fs01})
    others = {n: account(n).model_copy(update={"sid": SID[n], "rbcd_principals": (SID["HV01"],),
                                               "allowed_to_delegate_to": account(n).allowed_to_delegate_to + fs01})
              for n in NAMES[1:]}
    snap = cluster(HV01=hv01, **others)
    app01 = VirtualMachine(name="APP01", host="HV02", paths=("\\\\FS01\\VMs\\APP01\\APP01.vhdx",))
    snap = replace(snap, "HV02", host=snap.node("HV02").host.model_copy(update={"vms": (app01,)}))
    grid = matrix.matrix(snap)
    for pair in (("HV01", "HV02"), ("HV02", "HV01")):  # HV01 is the source, or the destination that runs APP01 next
        status = grid[pair]
        assert not status.ok and verdict(status).severity == Severity.ERROR and matrix.tone(status) == "error"
        assert [g.finding for g in status.shares] == ["delegation.kerberos_only:HV01:-"]
    assert grid[("HV01", "HV02")].rbcd == "its own SID"
    assert grid[("HV02", "HV03")].ok
    findings = diagnose(snap)
    assert [f.code for f in findings if f.source == "HV01"] == ["delegation.kerberos_only"]
    fix = next(f for f in findings if f.id == "delegation.kerberos_only:HV01:-")
    assert [a.description for a in fix.fix.actions] == [
        "Let HV01 use any authentication protocol (TRUSTED_TO_AUTH_FOR_DELEGATION 0x1000000)"]
    assert any("an RBCD grant on them, which would cover it, is not known" in e for e in fix.evidence)
    assert not [f for f in findings if f.code == "storage.smb_delegation"]  # every node holds cifs/FS01
    cell_fix = matrix.fix_findings(snap, [("HV01", "HV02")])
    assert [(f.source, [a.description for a in f.fix.actions]) for f in cell_fix] == [
        ("HV01", ["Let HV01 use any authentication protocol (TRUSTED_TO_AUTH_FOR_DELEGATION 0x1000000)"])]


def test_rbcd_through_a_nested_group():
    src = hv01_lacking(*SHORT, *FQDN, group_sids=(HOSTS_GROUP, NESTED_GROUP))
    snap = cluster(HV01=src, HV02=hv02_granting(NESTED_GROUP))
    status = matrix.matrix(snap)[("HV01", "HV02")]
    assert status.rbcd == f"group {NESTED_GROUP}" and status.ok
    assert not pair_findings(diagnose(snap), "HV01", "HV02")


def test_rbcd_deny_wins_and_other_principals_do_not_count():
    src = hv01_lacking(*SHORT, *FQDN, group_sids=(HOSTS_GROUP,))
    assert rbcd_grant(hv02_granting(SID["HV01"], denied=(HOSTS_GROUP,)), src) is None
    assert rbcd_grant(hv02_granting(SID["HV03"]), src) is None
    assert rbcd_grant(hv02_granting(SID["HV01"]), src.model_copy(update={"sid": None})) is None
    snap = cluster(HV01=src, HV02=hv02_granting(SID["HV01"], denied=(HOSTS_GROUP,)))
    (f,) = pair_findings(diagnose(snap), "HV01", "HV02")
    assert f.severity == Severity.ERROR and matrix.tone(matrix.matrix(snap)[("HV01", "HV02")]) == "error"


def test_rbcd_on_the_source_itself_grants_nothing_to_the_destination():
    """The descriptor works on the destination: HV01's own descriptor naming HV02 does not let HV01 delegate."""
    hv01 = hv01_lacking(*SHORT, *FQDN, rbcd_principals=(SID["HV02"],))
    (f,) = pair_findings(diagnose(cluster(HV01=hv01)), "HV01", "HV02")
    assert f.severity == Severity.ERROR


# --- one model: every lab scenario -------------------------------------------------------------------
RANK = {None: 0, Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_matrix_tone_equals_the_worst_finding_on_the_pair_in_every_scenario(lab_session, scenario):
    s = lab_session(scenario)
    snap = take_snapshot(s.directory, s.hosts, s.cluster)
    findings = diagnose(snap)
    for (src, dst), status in matrix.matrix(snap).items():
        on_pair = [f.severity for f in findings if (f.source == src and (
            (f.code == "delegation.missing" and f.target == dst)
            or (f.code in ("delegation.kerberos_only", "delegation.unconstrained") and not status.rbcd)))
            or (f.code == "storage.smb_delegation" and f.source in (src, dst))]  # VMs on SMB: both ends
        worst = max(on_pair, key=RANK.__getitem__, default=None)
        assert matrix.tone(status) == matrix.TONES[worst], (scenario, src, dst, on_pair, status)
        assert {g.finding for g in status.shares} == {f.id for f in findings if f.code == "storage.smb_delegation"
                                                     and f.source in (src, dst)}
        assert coverage(snap.node(src), snap.node(dst), shares=status.shares) == status
