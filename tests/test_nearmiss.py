"""Near-miss delegation values: each is pointed out with the value it most likely meant."""

from __future__ import annotations

from lmdoctor.services.domain.diagnosis import diagnose
from lmdoctor.services.domain.models import VSMS, Severity
from lmdoctor.services.domain.nearmiss import near_misses
from lmdoctor.services.domain.spn import delegation_targets
from tests.support.snapshots import cluster, fqdn, hv01_lacking, pair_findings

WANTED = delegation_targets("HV02", fqdn("HV02"))


def test_each_slip_is_named_with_the_value_it_meant():
    values = ["cifs/HV02.contoso.local.", "cifs/", f"{VSMS}/HV2", " cifs/HV02", "cifs\\HV02.contoso.local",
              "cifs/HV02:445", "cifs/FILESERVER.contoso.local", "cifs/HV02"]
    found = {m.value: (m.meant, m.why) for m in near_misses(values, WANTED, lacking=WANTED[:3])}
    assert found["cifs/HV02.contoso.local."] == ("cifs/HV02.contoso.local", "a trailing dot after the host name")
    assert found["cifs/"][0] == "cifs/HV02" and "service/host" in found["cifs/"][1]
    assert found[f"{VSMS}/HV2"] == (f"{VSMS}/HV02", "a typo")
    assert found[" cifs/HV02"] == ("cifs/HV02", "leading or trailing spaces")
    assert found["cifs\\HV02.contoso.local"][0] == "cifs/HV02.contoso.local"
    assert found["cifs/HV02:445"] == ("cifs/HV02", "a port (:445) the migration SPNs do not have")
    assert "cifs/FILESERVER.contoso.local" not in found  # another server, plainly named: no near miss
    assert "cifs/HV02" not in found  # a needed value itself


def test_a_value_that_is_no_spn_and_meets_nothing_is_still_pointed_out():
    (miss,) = near_misses(["/"], WANTED)
    assert miss.meant is None and "covers nothing" in miss.describe()


def test_near_misses_are_a_warning_and_evidence_on_the_missing_pair():
    snap = cluster(HV01=hv01_lacking("cifs/HV02.contoso.local", "cifs/HV02").model_copy(update={
        "allowed_to_delegate_to": hv01_lacking("cifs/HV02.contoso.local", "cifs/HV02").allowed_to_delegate_to
        + ("cifs/HV02.contoso.local.", "cifs/")}))
    findings = diagnose(snap)
    (missing,) = [f for f in pair_findings(findings, "HV01", "HV02") if f.code == "delegation.missing"]
    assert missing.severity == Severity.ERROR
    assert any("near miss: “cifs/HV02.contoso.local.” covers nothing (a trailing dot after the host name); "
               "most likely meant cifs/HV02.contoso.local" in e for e in missing.evidence), missing.evidence
    assert any("“cifs/” covers nothing" in e and "most likely meant cifs/HV02" in e for e in missing.evidence)
    (near,) = [f for f in findings if f.code == "delegation.near_miss"]
    assert (near.id, near.severity, near.fix.cleanup) == ("delegation.near_miss:HV01:-", Severity.WARNING, True)
    assert set(near.fix.actions[0].values) == {"cifs/HV02.contoso.local.", "cifs/"}
