"""The operator's delegability, clock skew and AES encryption types on hand-built snapshots."""

from __future__ import annotations

import pytest

from lmdoctor.services.domain.diagnosis import diagnose, has_errors
from lmdoctor.services.domain.models import (
    ENCTYPE_RC4,
    UAC_NOT_DELEGATED,
    ChangePreview,
    OperatorAccount,
    Severity,
)
from lmdoctor.services.operations.remediation import Remediator
from tests.support.snapshots import snapshot, with_account, with_host

USER_DN = "CN=Ops Admin,CN=Users,DC=contoso,DC=local"


def operator(**changes) -> OperatorAccount:
    base = dict(name="ops@contoso.local", how="the WinRM user of profile 'prod'", dn=USER_DN, uac=0x200,
                protected_users=False, enctypes=None)
    return OperatorAccount(**{**base, **changes})


def with_operator(op: OperatorAccount | None, dc_offset: float | None = 0.0):
    return snapshot().model_copy(update={"operator": op, "dc_clock_offset_s": dc_offset})


def test_a_delegable_operator_and_clean_clocks_give_no_finding() -> None:
    assert diagnose(with_operator(operator())) == []


@pytest.mark.parametrize("changes, reason", [
    ({"uac": 0x200 | UAC_NOT_DELEGATED}, "'Account is sensitive and cannot be delegated' (0x100000) is set"),
    ({"protected_users": True}, "member of Protected Users (RID 525"),
])
def test_an_operator_that_cannot_be_delegated_is_an_error_naming_the_account_and_why(changes, reason) -> None:
    findings = diagnose(with_operator(operator(**changes)))
    assert [f.id for f in findings] == ["operator.not_delegable:-:-"] and has_errors(findings)
    f = findings[0]
    assert "ops@contoso.local" in f.message and any(reason in e for e in f.evidence), f.evidence
    assert any(USER_DN in e and "WinRM user of profile 'prod'" in e for e in f.evidence)
    assert f.fix is None and "Move-ClusterVirtualMachineRole" in f.remedy and "winrm_user" in f.remedy


def test_an_operator_not_found_is_said_not_guessed() -> None:
    findings = diagnose(with_operator(operator(dn=None, uac=0, protected_users=None)))
    assert [(f.code, f.severity) for f in findings] == [("operator.unknown", Severity.INFO)]


@pytest.mark.parametrize("host_offset, dc_offset, flagged", [
    (300.0, 0.0, False),  # exactly the tolerance: still accepted
    (301.0, 0.0, True),
    (-301.0, 0.0, True),
    (400.0, 200.0, False),  # the host and the DC are both off this machine's clock, but agree
    (0.0, 360.0, True),  # this machine agrees with the host; the DC is off
    (900.0, None, False),  # no DC time read: nothing to compare with
])
def test_clock_skew_is_measured_against_the_dc_not_this_machine(host_offset, dc_offset, flagged) -> None:
    snap = with_host(with_operator(None, dc_offset), "HV03", clock_offset_s=host_offset)
    findings = [f for f in diagnose(snap) if f.code == "clock.skew"]
    assert [f.source for f in findings] == (["HV03"] if flagged else [])
    if flagged:
        assert findings[0].severity == Severity.ERROR and findings[0].remedy.startswith("On HV03: w32tm")


@pytest.mark.parametrize("enctypes, flagged", [(None, False), (0, False), (0x4, True), (0x7, True), (0x18, False),
                                              (0x1C, False), (0x8, False)])
def test_accounts_that_exclude_aes_are_flagged_and_unset_ones_are_not(enctypes, flagged) -> None:
    """Unset (or 0) means the DC's default, which is AES-only after the April 2026 update (KB5073381)."""
    snap = with_account(with_operator(operator(enctypes=enctypes)), "HV02", enctypes=enctypes)
    found = {(f.code, f.source) for f in diagnose(snap)}
    expected = {("kerberos.no_aes", "HV02"), ("kerberos.no_aes", None)} if flagged else set()
    assert found == expected


def test_the_aes_fix_ors_0x18_in_and_builds_on_an_absent_value() -> None:
    findings = diagnose(with_account(with_operator(None), "HV02", enctypes=ENCTYPE_RC4))
    (f,) = findings
    assert f.severity == Severity.WARNING and "CVE-2026-20833" in f.cause and "KB5073381" in f.cause
    (action,) = f.fix.actions
    assert (action.kind, action.attribute, action.values) == ("directory.set_bits", "msDS-SupportedEncryptionTypes", ("0x18",))
    assert f.fix.purge_hosts == ("HV02",) and "Reset-ComputerMachinePassword" in f.remedy
    assert Remediator.target_value(action, ("4",)) == ("28",)
    assert Remediator.target_value(action, ()) == ("24",)
    assert Remediator.target_value(action, ("28",)) == ("28",)  # already there: a no-op preview
    assert ChangePreview(action=action, before=("28",), after=("28",)).no_op
