"""Fixes written over LDAP to a real Samba AD DC through lmdoctor's remediation: exactly the missing values
(MODIFY_ADD), userAccountControl read-modify-write, removal from the wrong object only when asked, read
back; and refused writes (a non-admin user, a duplicate SPN) leave nothing half-written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ldap3 import MODIFY_ADD, MODIFY_DELETE

from lmdoctor.services.backends.directory.base import DirectoryError
from lmdoctor.services.backends.directory.connect import connect
from lmdoctor.services.backends.directory.ldap import LdapDirectory
from lmdoctor.services.backends.lab.hosts import LabHostGateway
from lmdoctor.services.domain import fixes
from lmdoctor.services.domain.diagnosis import diagnose
from lmdoctor.services.domain.models import FixPlan
from lmdoctor.services.domain.spn import delegation_targets
from lmdoctor.services.operations.inventory import take_snapshot
from lmdoctor.services.operations.remediation import Remediator
from lmdoctor.services.storage.journal import Journal
from lmdoctor.services.storage.profiles import Profile
from tests.samba.harness import ADMIN_PASSWORD, SambaDC
from tests.samba.scenarios import DcScenario, build_on_dc

pytestmark = pytest.mark.samba

DELEGATE = "msDS-AllowedToDelegateTo"
OPERATOR = "operator@contoso.local"
OPERATOR_PASSWORD = "Operat0r!Lab"  # throw-away password of a loopback-only test DC


def profile(dc: SambaDC, user: str = "Administrator@contoso.local") -> Profile:
    return Profile(name="samba", domain="contoso.local", dc=dc.hostname, ca_file=dc.ca_file, bind_user=user,
                   cluster="HVCLUSTER", timeout_s=10)


def open_dir(dc: SambaDC, user: str = "Administrator@contoso.local", password: str = ADMIN_PASSWORD) -> LdapDirectory:
    with dc.inside():
        return connect(profile(dc, user), password, address=dc.ip)


class ModifySpy:
    """Every modify sent on one connection, as (dn, changes)."""

    def __init__(self, directory: LdapDirectory, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: list[tuple[str, dict]] = []
        real = directory.connection.modify

        def spy(dn, changes, *args, **kwargs):
            self.sent.append((dn, changes))
            return real(dn, changes, *args, **kwargs)

        monkeypatch.setattr(directory.connection, "modify", spy)


@pytest.fixture(scope="module")
def seed(samba_dc: SambaDC, tmp_path_factory: pytest.TempPathFactory) -> DcScenario:
    """The runbook's fault on the DC: HV01 lacks delegation to HV02; the values sit on HV02's own object."""
    return build_on_dc(samba_dc, "seed", tmp_path_factory.mktemp("seed-lab"))


@pytest.fixture
def session(samba_dc_up: SambaDC, seed: DcScenario, tmp_path: Path) -> Iterator[tuple[LdapDirectory, Remediator]]:
    directory = open_dir(samba_dc_up)
    hosts = LabHostGateway(seed.store, directory, step_delay=0)
    yield directory, Remediator(directory, hosts, Journal(tmp_path / "journal.jsonl"))
    directory.close()


def findings(remediator: Remediator) -> dict[str, object]:
    snapshot = take_snapshot(remediator.directory, remediator.hosts, "HVCLUSTER")
    return {f.code: f for f in diagnose(snapshot)}


def delegation(dc: SambaDC, dn: str) -> set[str]:
    return set(dc.read(dn, [DELEGATE])[DELEGATE])


def test_fixes_add_only_the_missing_values_and_remove_strays_only_when_asked(
        samba_dc_up, seed, session, monkeypatch) -> None:
    dc, (directory, remediator) = samba_dc_up, session
    hv01, hv02 = seed.computers["HV01"], seed.computers["HV02"]
    wanted = set(delegation_targets("HV02", "HV02.contoso.local"))
    dc.modify(hv01, {DELEGATE: [(MODIFY_ADD, ["cifs/HV02"])]})  # one of the four is already there
    remediator.hosts.purge_tickets("HV01")  # that change made HV01's tickets stale; the test is about delegation
    hv01_before, hv02_before = delegation(dc, hv01), delegation(dc, hv02)
    found = findings(remediator)
    assert set(found) == {"delegation.missing", "delegation.wrong_object"}

    spy = ModifySpy(directory, monkeypatch)
    previews = remediator.preview(found["delegation.missing"].fix)
    assert set(previews[0].after) - set(previews[0].before) == wanted - {"cifs/HV02"}
    outcome = remediator.apply(previews, "CHG-1 missing delegation", ["HV01"])
    assert outcome.ok and [e.read_back for e in outcome.applied] == [previews[0].after]
    assert spy.sent == [(hv01, {DELEGATE: [(MODIFY_ADD, sorted(wanted - {"cifs/HV02"},
                                                           key=list(previews[0].after).index))]})]
    assert delegation(dc, hv01) == hv01_before | wanted
    assert delegation(dc, hv02) == hv02_before  # the stray values stay until asked

    found = findings(remediator)
    assert set(found) == {"delegation.wrong_object"}
    outcome = remediator.apply(remediator.preview(found["delegation.wrong_object"].fix), "CHG-2 strays", ["HV02"])
    assert outcome.ok
    assert spy.sent[-1] == (hv02, {DELEGATE: [(MODIFY_DELETE, sorted(wanted & hv02_before,
                                                                    key=list(outcome.applied[0].before).index))]})
    assert delegation(dc, hv02) == hv02_before - wanted
    assert findings(remediator) == {}


def test_protocol_transition_is_a_read_modify_write_of_user_account_control(samba_dc_up, seed, session,
                                                                            monkeypatch) -> None:
    dc, (directory, remediator) = samba_dc_up, session
    hv03 = seed.computers["HV03"]
    original = int(dc.read(hv03, ["userAccountControl"])["userAccountControl"][0])
    kerberos_only = (original | 0x10000) & ~0x1000000  # DONT_EXPIRE_PASSWORD must survive the write
    dc.modify(hv03, {"userAccountControl": [("MODIFY_REPLACE", [str(kerberos_only)])]})
    try:
        found = findings(remediator)
        fix = found["delegation.kerberos_only"].fix
        spy = ModifySpy(directory, monkeypatch)
        outcome = remediator.apply(remediator.preview(fix), "CHG-3 protocol transition", ["HV03"])
        assert outcome.ok
        new = kerberos_only | 0x1000000
        assert spy.sent == [(hv03, {"userAccountControl": [(MODIFY_DELETE, [str(kerberos_only)]),
                                                           (MODIFY_ADD, [str(new)])]})]
        assert int(dc.read(hv03, ["userAccountControl"])["userAccountControl"][0]) == new
        assert outcome.applied[0].read_back == (str(new),)
    finally:
        dc.modify(hv03, {"userAccountControl": [("MODIFY_REPLACE", [str(original)])]})


@pytest.fixture(scope="module")
def operator(samba_dc: SambaDC) -> str:
    """An ordinary domain user (no delegation rights)."""
    dn = f"CN=operator,CN=Users,{samba_dc.base_dn}"
    conn = samba_dc.ldap()
    try:
        conn.add(dn, ["top", "person", "organizationalPerson", "user"], {
            "sAMAccountName": "operator", "userPrincipalName": OPERATOR, "userAccountControl": 0x200,
            "unicodePwd": f'"{OPERATOR_PASSWORD}"'.encode("utf-16-le")})
    finally:
        conn.unbind()
    return dn


def test_a_non_admin_reads_but_cannot_write_delegation(samba_dc_up, seed, operator, tmp_path) -> None:
    dc = samba_dc_up
    directory = open_dir(dc, OPERATOR, OPERATOR_PASSWORD)
    try:
        remediator = Remediator(directory, LabHostGateway(seed.store, directory, step_delay=0),
                                Journal(tmp_path / "journal.jsonl"))
        hv04 = seed.computers["HV04"]
        before = delegation(dc, hv04)
        snapshot = take_snapshot(directory, remediator.hosts, "HVCLUSTER")  # authenticated users read it all
        assert [n.account.name for n in snapshot.nodes] == ["HV01", "HV02", "HV03", "HV04"]
        with pytest.raises(DirectoryError, match="insufficient access rights: writing delegation needs Domain Admin"):
            directory.add_values(hv04, DELEGATE, ["cifs/HV99.contoso.local"])
        account = snapshot.nodes[3].account
        fix = FixPlan(summary="delegate to HV99", actions=(fixes.add_delegation(account, ["cifs/HV99"], "HV99"),))
        outcome = remediator.apply(remediator.preview(fix), "CHG-4 as operator")
        assert not outcome.ok and not outcome.applied
        assert "insufficient access rights" in outcome.failed[0].error
        assert [e.state for e in remediator.journal.entries()] == ["intent", "failed"]
        assert delegation(dc, hv04) == before
    finally:
        directory.close()


def test_a_duplicate_spn_is_refused_and_nothing_is_half_written(samba_dc_up, seed, session) -> None:
    dc, (directory, _remediator) = samba_dc_up, session
    hv03 = seed.computers["HV03"]
    before = dc.read(hv03, ["servicePrincipalName"])["servicePrincipalName"]
    with pytest.raises(DirectoryError) as info:  # a new SPN together with one HV01 already holds
        directory.add_values(hv03, "servicePrincipalName", ["WSMAN/HV03-NEW", "HOST/HV01.contoso.local"])
    assert "constraint violation" in str(info.value) and "0000202F" in str(info.value)
    assert dc.read(hv03, ["servicePrincipalName"])["servicePrincipalName"] == before


def test_a_uac_write_after_an_out_of_band_change_is_refused(samba_dc_up, seed, session, monkeypatch) -> None:
    """The delete of the old value makes a concurrent change fail instead of being overwritten."""
    dc, (directory, _remediator) = samba_dc_up, session
    hv04 = seed.computers["HV04"]
    original = dc.read(hv04, ["userAccountControl"])["userAccountControl"][0]
    real_read = directory.read_values

    def read_then_someone_else_writes(dn, attribute):
        value = real_read(dn, attribute)
        dc.modify(hv04, {"userAccountControl": [("MODIFY_REPLACE", [str(int(original) | 0x10000)])]})
        return value

    monkeypatch.setattr(directory, "read_values", read_then_someone_else_writes)
    try:
        with pytest.raises(DirectoryError):
            directory.change_uac(hv04, 0x80000, 0)
        assert int(dc.read(hv04, ["userAccountControl"])["userAccountControl"][0]) == int(original) | 0x10000
    finally:
        dc.modify(hv04, {"userAccountControl": [("MODIFY_REPLACE", [original])]})

