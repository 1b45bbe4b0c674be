"""End to end over the wire: a Session with the lab directory and the pypsrp gateway to the lab's hosts.

The directory side of a real profile needs a domain controller, so these sessions use the lab
directory; every host operation goes over WinRM/PSRP to the loopback endpoints. The same
scenario opened as the demo (lab gateway, in process) must give the same findings, take the same
fixes and move the same VM.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lmdoctor.services.backends.lab.directory import LabDirectory
from lmdoctor.services.backends.lab.state import LabStore
from lmdoctor.services.domain.diagnosis import diagnose, has_errors
from lmdoctor.services.domain.models import AuthType, Finding, MoveProgress
from lmdoctor.services.operations import lab_admin as manage
from lmdoctor.services.operations.inventory import take_snapshot
from lmdoctor.services.operations.migration import MoveRequest, run_test_move
from lmdoctor.services.operations.session import Session
from lmdoctor.services.storage.journal import Journal
from tests.psrp.endpoint.lab_cluster import LabCluster

pytestmark = pytest.mark.psrp


@pytest.fixture
def wire_session(tmp_path: Path) -> Iterator[Callable[[str], tuple[Session, LabCluster]]]:
    """Factory: a lab directory reset to a scenario, its hosts served over PSRP, and a Session on both."""
    opened: list[tuple[Session, LabCluster]] = []

    def make(scenario: str) -> tuple[Session, LabCluster]:
        root = tmp_path / f"wire-{scenario}"
        manage.reset(root, scenario)
        cluster = LabCluster(root).__enter__()
        session = Session(label=f"wire · {scenario}", demo=False, cluster="HVCLUSTER",
                          directory=LabDirectory(LabStore(root)), hosts=cluster.gateway(timeout_s=5),
                          journal=Journal(root / "wire-journal.jsonl"))
        opened.append((session, cluster))
        return session, cluster

    yield make
    for session, cluster in opened:
        session.close()
        cluster.__exit__(None, None, None)


def _ids(findings: list[Finding]) -> list[str]:
    return sorted(f.id for f in findings)


def _check(session: Session) -> list[Finding]:
    return diagnose(take_snapshot(session.directory, session.hosts, session.cluster, session.configured_nodes))


def _fix_all(session: Session, reason: str):
    """What `lmdoctor fix --all` does: preview every fixable finding, apply, purge."""
    chosen = [f for f in _check(session) if f.fix]
    previews = [p for f in chosen for p in session.remediator.preview(f.fix)]
    purge = sorted({h for f in chosen for h in f.fix.purge_hosts})
    return session.remediator.apply(previews, reason, purge)


@pytest.mark.parametrize("scenario", ["seed", "kerberos-only", "auth-mismatch", "migration-disabled",
                                      "stale-tickets", "stale-dns", "healthy"])
def test_same_findings_as_the_demo(wire_session, lab_session, scenario: str) -> None:
    wire, _ = wire_session(scenario)
    demo = lab_session(scenario)
    over_the_wire = _check(wire)
    assert _ids(over_the_wire) == _ids(_check(demo))
    assert not any(f.code == "host.unreachable" for f in over_the_wire)
    assert has_errors(over_the_wire) == (scenario != "healthy")


def test_seed_fixed_then_moved_and_verified_over_the_wire(wire_session, lab_session) -> None:
    wire, cluster = wire_session("seed")
    demo = lab_session("seed")
    candidates = ["HV01", "HV02", "HV03", "HV04"]
    before = run_test_move(wire.hosts, MoveRequest(vm="APP01", destination="HV02"), candidates)
    assert not before.ok and "0x8009030E" in before.error and before.what_if

    outcome = _fix_all(wire, "CHG-42 restore delegation")
    demo_outcome = _fix_all(demo, "CHG-42 restore delegation")
    assert outcome.ok and outcome.purged == demo_outcome.purged and "HV01" in outcome.purged
    assert [e.action.description for e in outcome.applied] == [e.action.description for e in demo_outcome.applied]
    assert _ids(_check(wire)) == _ids(_check(demo))
    assert "klist.exe" in [c.name for c in cluster.received("HV01")]

    steps: list[str] = []
    progress: list[MoveProgress] = []
    result = run_test_move(wire.hosts, MoveRequest(vm="APP01", destination="HV02"), candidates,
                           progress=progress.append, step=steps.append)
    assert result.ok and result.verified and not result.what_if and result.source == "HV01"
    assert [p.percent for p in progress][-1] == 100 and len(progress) >= 5
    assert steps[-1] == "APP01 is on HV02"
    assert [vm.name for vm in wire.hosts.host_report("HV02").vms] == ["SQL01", "APP01"]
    moves = [c for c in cluster.received("HV01") if c.name == "Move-VM"]
    assert [bool(c.parameters.get("WhatIf")) for c in moves] == [True, True, False]


def test_host_fix_journaled_read_back_and_rolled_back_over_the_wire(wire_session) -> None:
    wire, cluster = wire_session("auth-mismatch")
    credssp = [n for n in ("HV01", "HV02", "HV03", "HV04")
               if wire.hosts.host_report(n).settings.auth_type == AuthType.CREDSSP]
    assert len(credssp) == 1
    node = credssp[0]
    outcome = _fix_all(wire, "CHG-7 back to Kerberos")
    assert outcome.ok
    (applied,) = [e for e in outcome.applied if e.action.kind == "host.set_auth_type"]
    assert (applied.before, applied.read_back) == (("CredSSP",), ("Kerberos",))
    assert LabStore(cluster.lab_dir).load_hosts().hosts[node].settings.auth_type == AuthType.KERBEROS
    assert not any(f.code.startswith("auth.") for f in _check(wire))

    undone = wire.remediator.rollback(wire.remediator.last_batch(), "CHG-7 back out")
    assert undone.ok
    assert wire.hosts.host_report(node).settings.auth_type == AuthType.CREDSSP
    sets = [c.parameters["VirtualMachineMigrationAuthenticationType"] for c in cluster.received(node)
            if c.name == "Set-VMHost"]
    assert sets == ["Kerberos", "CredSSP"]
