"""klist on a German host over PSRP: the loopback endpoint answers in German; ticket times are read and a purge
is confirmed by reading the cache back (the parsing itself is proved in tests/test_klist.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmdoctor.services.backends.lab.state import LabStore
from lmdoctor.services.operations import lab_admin as manage
from tests.psrp.endpoint.lab_cluster import LabCluster

pytestmark = pytest.mark.psrp


@pytest.fixture
def german_cluster(tmp_path: Path):
    lab_dir = tmp_path / "lab"
    manage.reset(lab_dir, "stale-tickets")
    with LabCluster(lab_dir) as cluster:
        for handler in cluster.handlers.values():
            handler.language = "de"
        yield cluster


def test_on_a_german_host_over_psrp_tickets_are_read_and_a_purge_is_confirmed(german_cluster):
    gateway = german_cluster.gateway()
    issued = LabStore(german_cluster.lab_dir).load_hosts().hosts["HV01"].tickets.issued
    report = gateway.host_report("HV01")
    assert report.tickets_issued == issued.replace(microsecond=0)
    gateway.purge_tickets("HV01")  # confirmed: no exception
    after = LabStore(german_cluster.lab_dir).load_hosts().hosts["HV01"].tickets.issued
    assert after > issued and gateway.host_report("HV01").tickets_issued == after.replace(microsecond=0)
    gateway.close()
