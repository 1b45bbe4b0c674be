"""A migration tour over PowerShell remoting: each hop a real Move-VM/Get-VM exchange with the endpoint, the blackout
time read back from the VMMS-Admin 20415 event the host logged, and the tour stopping at the host's own error."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmdoctor.services.backends.lab.state import LabStore
from lmdoctor.services.operations import tour
from lmdoctor.services.storage import move_log
from lmdoctor.services.storage.journal import Journal
from tests.psrp.endpoint.lab_cluster import LabCluster

pytestmark = pytest.mark.psrp

NODES = ["HV01", "HV02", "HV03", "HV04"]


def test_a_tour_over_psrp_stops_at_the_hosts_error_and_reads_the_blackout_from_the_event(cluster: LabCluster,
                                                                                           tmp_path: Path) -> None:
    gateway = cluster.gateway()
    journal = Journal(tmp_path / "journal.jsonl")
    progress: list[tour.HopProgress] = []
    state = tour.start(gateway, "WEB01", NODES, "cycle", False, "CHG-77 tour over WinRM")
    assert state.start == "HV03"
    outcome = tour.run(gateway, journal, state, NODES,
                       listener=lambda e: progress.append(e) if isinstance(e, tour.HopProgress) else None)
    first, failed = outcome.state.results
    assert (first.move.source, first.move.destination, first.passed) == ("HV03", "HV01", True)
    assert first.move.blackout_ms == 44.0  # from the 20415 event's text, as a real host reports it
    assert first.move.bytes_transferred is None  # Windows reports no transferred bytes for Move-VM
    assert {p.progress.percent for p in progress if p.index == 0} >= {0, 50, 100}  # the host's progress records
    assert (failed.move.source, failed.move.destination, failed.passed) == ("HV01", "HV02", False)
    assert "No credentials are available in the security package (0x8009030E)" in (failed.move.error or "")
    assert outcome.location == "HV01"
    assert [v.name for v in LabStore(cluster.lab_dir).load_hosts().hosts["HV01"].vms].count("WEB01") == 1
    assert [m.result for m in move_log.history(journal)] == [first.move, failed.move]

    asked = [c for host in ("HV03", "HV01") for c in cluster.received(host)
             if c.name == "Get-WinEvent" and c.parameters["FilterHashtable"].get("Id") == 20415]
    assert len(asked) == 2  # the source, then the destination, after the live move
    assert asked[0].parameters == {"FilterHashtable": {"LogName": "Microsoft-Windows-Hyper-V-VMMS-Admin", "Id": 20415},
                                   "MaxEvents": 20}
    assert not any(c.is_script for host in NODES for c in cluster.received(host))
