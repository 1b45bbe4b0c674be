"""The CredSSP window: journaled with an expiry, shown with the time left, reverted on request or at expiry."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from lmdoctor.services.backends.lab.state import LabStore
from lmdoctor.services.domain.models import AuthType
from lmdoctor.services.operations import credssp, reconcile
from lmdoctor.services.operations import lab_admin as manage
from lmdoctor.services.operations.remediation import ReadOnlyError
from lmdoctor.services.operations.session import open_demo
from tests.support.cli_lab import Lab

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)


def auth(session, host: str = "HV03") -> AuthType:
    return LabStore(session.lab_dir).load_hosts().hosts[host].settings.auth_type


def test_opening_a_window_journals_the_change_with_its_expiry(lab_session):
    s = lab_session("healthy")
    outcome = credssp.open_window(s.remediator, "hv03", 45, "CHG-7 evacuate HV03", NOW)
    assert outcome.ok and auth(s) == AuthType.CREDSSP
    intent, applied = s.journal.entries()
    assert (intent.state, applied.state) == ("intent", "applied")
    assert intent.expires == applied.expires == NOW + timedelta(minutes=45)
    assert applied.before == ("Kerberos",) and applied.read_back == ("CredSSP",) and applied.reason == "CHG-7 evacuate HV03"
    (window,) = credssp.windows(s.remediator)
    assert window.host == "HV03"
    assert window.remaining(NOW + timedelta(minutes=15)) == timedelta(minutes=30)
    assert window.describe(NOW + timedelta(minutes=15, seconds=1)) == (
        "CredSSP window on HV03: 29m 59s left (reverts to Kerberos at 2026-11-24 10:15 UTC)")
    assert "EXPIRED" in window.describe(NOW + timedelta(hours=1))


@pytest.mark.parametrize("minutes", [0, -5, credssp.MAX_MINUTES + 1])
def test_window_length_is_bounded(lab_session, minutes):
    s = lab_session("healthy")
    with pytest.raises(credssp.CredsspError, match="--minutes"):
        credssp.open_window(s.remediator, "HV03", minutes, "CHG-7", NOW)
    assert s.journal.entries() == [] and auth(s) == AuthType.KERBEROS


def test_a_second_window_on_one_host_and_a_host_already_on_credssp_are_refused(lab_session):
    s = lab_session("healthy")
    credssp.open_window(s.remediator, "HV03", 30, "CHG-7", NOW)
    with pytest.raises(credssp.CredsspError, match="already has an open CredSSP window"):
        credssp.open_window(s.remediator, "HV03", 30, "CHG-8", NOW)
    s.hosts.set_auth_type("HV04", AuthType.CREDSSP)  # set by hand, outside lmdoctor
    with pytest.raises(credssp.CredsspError, match="outside a window"):
        credssp.open_window(s.remediator, "HV04", 30, "CHG-8", NOW)
    assert len(s.journal.entries()) == 2


def test_read_only_refuses_to_open_or_revert(lab_session):
    s = lab_session("healthy", read_only=True)
    with pytest.raises(ReadOnlyError):
        credssp.open_window(s.remediator, "HV03", 30, "CHG-7", NOW)
    with pytest.raises(ReadOnlyError):
        credssp.revert(s.remediator, [], "CHG-7")
    assert s.journal.entries() == [] and auth(s) == AuthType.KERBEROS


def test_revert_on_request_restores_kerberos_journals_it_and_purges_tickets(lab_session):
    s = lab_session("healthy")
    opened = credssp.open_window(s.remediator, "HV03", 30, "CHG-7", NOW)
    outcome = credssp.revert(s.remediator, credssp.windows(s.remediator), "CHG-7 done")
    assert outcome.ok and auth(s) == AuthType.KERBEROS
    assert outcome.purged == ["HV03"]
    undo = s.journal.entries()[-1]
    assert (undo.state, undo.rollback_of, undo.after, undo.reason) == (
        "applied", opened.applied[0].change_id, ("Kerberos",), "CHG-7 done")
    assert credssp.windows(s.remediator) == []


def test_a_window_closed_by_hand_is_closed_in_the_journal_without_a_write(lab_session):
    s = lab_session("healthy")
    credssp.open_window(s.remediator, "HV03", 30, "CHG-7", NOW)
    s.hosts.set_auth_type("HV03", AuthType.KERBEROS)
    hosts_before = (s.lab_dir / "hosts.json").read_bytes()
    credssp.revert(s.remediator, credssp.windows(s.remediator), "close")
    assert (s.lab_dir / "hosts.json").read_bytes() == hosts_before
    last = s.journal.entries()[-1]
    assert last.state == "reconciled" and "closed without a write" in last.reason and last.read_back == ("Kerberos",)
    assert credssp.windows(s.remediator) == []


def test_settle_reverts_only_expired_windows_and_says_so(lab_session):
    s = lab_session("healthy")
    credssp.open_window(s.remediator, "HV03", 30, "CHG-7", NOW)
    credssp.open_window(s.remediator, "HV04", 120, "CHG-8", NOW)
    said: list[str] = []
    reconcile.settle(s.remediator, NOW + timedelta(minutes=29), said.append)
    assert said == [] and auth(s) == AuthType.CREDSSP
    reconcile.settle(s.remediator, NOW + timedelta(minutes=31), said.append)
    assert auth(s, "HV03") == AuthType.KERBEROS and auth(s, "HV04") == AuthType.CREDSSP
    assert said[-1] == "CredSSP window expired: reverted to Kerberos"
    revert = s.journal.entries()[-1]
    assert "CredSSP window on HV03 expired at 2026-11-24 10:00 UTC (opened for: CHG-7)" in revert.reason
    assert [w.host for w in credssp.windows(s.remediator)] == ["HV04"]


def test_settle_in_read_only_mode_warns_and_writes_nothing(lab_session, tmp_path):
    s = lab_session("healthy")
    credssp.open_window(s.remediator, "HV03", 30, "CHG-7", NOW)
    ro = open_demo(s.lab_dir, read_only=True, step_delay=0)
    before = {p.name: p.read_bytes() for p in s.lab_dir.iterdir()}
    said: list[str] = []
    reconcile.settle(ro.remediator, NOW + timedelta(hours=1), said.append)
    assert any("EXPIRED" in line and "read-only" in line for line in said)
    assert {p.name: p.read_bytes() for p in s.lab_dir.iterdir()} == before
    ro.close()


# --- CLI -------------------------------------------------------------------------------------


@pytest.fixture
def healthy_lab(tmp_path: Path) -> Lab:
    lab = Lab(tmp_path / "lab")
    lab.reset("healthy")
    return lab


def test_cli_open_status_check_and_revert(healthy_lab):
    r = healthy_lab.run("credssp")
    assert r.returncode == 0 and "no CredSSP window is open" in r.stderr
    r = healthy_lab.run("credssp", "--open", "HV03", "--minutes", "30", "--reason", "CHG-7", "--yes")
    assert r.returncode == 0, r.stderr
    assert "Credential Guard" in r.stderr and "Windows Server 2025" in r.stderr
    assert "CredSSP window on HV03: 29m" in r.stderr or "CredSSP window on HV03: 30m" in r.stderr
    r = healthy_lab.run("credssp")
    assert r.returncode == 0 and "CredSSP window on HV03:" in r.stderr and "left" in r.stderr
    r = healthy_lab.run("check")
    assert "CredSSP window on HV03:" in r.stderr and "Credential Guard" in r.stderr
    r = healthy_lab.run("credssp", "--revert", "--reason", "CHG-7 done", "--yes")
    assert r.returncode == 0, r.stderr
    assert "no CredSSP window is open" in r.stderr
    code, doc = healthy_lab.check()
    assert code == 0 and {n["auth_type"] for n in doc["nodes"]} == {"Kerberos"}


def test_cli_reverts_an_expired_window_on_the_next_run(healthy_lab):
    s = open_demo(healthy_lab.root, step_delay=0)
    credssp.open_window(s.remediator, "HV03", 60, "CHG-7", datetime.now(timezone.utc) - timedelta(hours=2))
    s.close()
    r = healthy_lab.run("check", "--json")
    assert r.returncode == 0, r.stderr
    assert "CredSSP window expired: reverted to Kerberos" in r.stderr
    assert {n["auth_type"] for n in json.loads(r.stdout)["nodes"]} == {"Kerberos"}
    states = [(e["state"], e["rollback_of"] is not None) for e in json.loads(healthy_lab.run("journal", "--json").stdout)]
    assert states == [("intent", False), ("applied", False), ("intent", True), ("applied", True)]


def test_cli_credssp_needs_reason_confirmation_and_writes_nothing_read_only(healthy_lab):
    before = healthy_lab.files()
    r = healthy_lab.run("credssp", "--open", "HV03", "--yes")
    assert r.returncode == 2 and "reason" in r.stderr
    r = healthy_lab.run("credssp", "--open", "HV03", "--reason", "CHG-7")
    assert r.returncode == 2 and "--yes" in r.stderr
    r = healthy_lab.run("credssp", "--open", "HV03", "--reason", "CHG-7", "--yes", "--read-only")
    assert r.returncode == 2 and "read-only" in r.stderr
    r = healthy_lab.run("credssp", "--open", "HV03*", "--reason", "CHG-7", "--yes")
    assert r.returncode == 2 and "--open" in r.stderr and "not a valid host name" in r.stderr
    assert healthy_lab.files() == before


# --- console ---------------------------------------------------------------------------------


async def test_nodes_screen_shows_the_countdown_and_the_credential_guard_warning(tmp_path):
    from lmdoctor.tui.app import LmDoctorApp
    from scripts.console_scenes import FIXED_NOW, settle

    root = tmp_path / "lab"
    manage.reset(root, "healthy", now=FIXED_NOW)
    session = open_demo(root, step_delay=0)
    credssp.open_window(session.remediator, "HV03", 90, "CHG-7", FIXED_NOW - timedelta(minutes=10))
    app = LmDoctorApp(session, clock=lambda: FIXED_NOW)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, until=lambda: app.snapshot is not None)
        text = str(app.screen.query_one("#credssp-window").render())
        assert "CredSSP window on HV03: 1h 20m 00s left" in text
        assert "Credential Guard (default on Windows Server 2025) blocks CredSSP migration" in text
        assert app.screen.query_one("#credssp-window").display
