"""The inventory's LDAP round trips do not grow with the cluster: N=4 and N=16 nodes (plus unrelated
computers holding SPNs) cost the same number of searches against a real Samba AD DC. Not timed; the
timings are in tests/perf/bench_triage.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmdoctor.services.backends.directory.connect import connect
from lmdoctor.services.backends.lab.hosts import LabHostGateway
from lmdoctor.services.domain.diagnosis import diagnose
from lmdoctor.services.operations.inventory import take_snapshot
from lmdoctor.services.storage.profiles import Profile
from tests.samba.harness import ADMIN_PASSWORD, COMPUTERS_DN, SambaDC
from tests.samba.scenarios import COMPUTER_CLASSES, MemoryHosts, create_clusters, lab_hosts, node_names

pytestmark = pytest.mark.samba


def test_round_trips_are_constant_in_the_number_of_nodes(samba_dc_up: SambaDC, tmp_path: Path) -> None:
    dc = samba_dc_up
    create_clusters(dc, sizes=(4, 16))
    conn = dc.ldap()
    try:  # unrelated computers with SPNs of their own
        for i in range(40):
            conn.add(f"CN=OTHER{i:02d},{COMPUTERS_DN}", COMPUTER_CLASSES, {
                "sAMAccountName": f"OTHER{i:02d}$", "userAccountControl": 4096,
                "servicePrincipalName": [f"HOST/OTHER{i:02d}", f"HOST/OTHER{i:02d}.contoso.local"]})
    finally:
        conn.unbind()
    profile = Profile(name="samba", domain="contoso.local", dc=dc.hostname, ca_file=dc.ca_file,
                      bind_user="Administrator@contoso.local", cluster="C4", timeout_s=10)
    with dc.inside():
        directory = connect(profile, ADMIN_PASSWORD, address=dc.ip)
    try:
        trips = {}
        for n in (4, 16):
            hosts = MemoryHosts(LabHostGateway(lab_hosts(n, tmp_path), directory, step_delay=0))
            before = directory.search_operations()
            snapshot = take_snapshot(directory, hosts, f"C{n}")
            trips[n] = directory.search_operations() - before
            assert [node.name for node in snapshot.nodes] == node_names(n)
            assert all(node.account is not None and len(node.dns) == 1 for node in snapshot.nodes)
            assert diagnose(snapshot) == []  # healthy clusters: nothing missed, nothing invented
        assert trips[4] == trips[16] <= 4  # nodes + cluster name object, other SPN holders, DNS, the RootDSE clock
    finally:
        directory.close()
