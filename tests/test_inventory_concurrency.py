"""The inventory asks the directory and every host of a 64-node cluster at the same time."""

from __future__ import annotations

import threading
from pathlib import Path

from lmdoctor.services.domain.models import ClusterNode, HostReport
from lmdoctor.services.operations.inventory import MAX_HOSTS_AT_ONCE, take_snapshot
from lmdoctor.services.operations.session import open_demo

NODES = [f"HV{i:02d}" for i in range(1, 65)]


class Rendezvous:
    """Wraps a backend so that each call waits until every other call of the inventory has started.

    If the inventory ran them in waves, the barrier would time out and break: no timing involved."""

    def __init__(self, inner, barrier: threading.Barrier) -> None:
        self.inner, self.barrier = inner, barrier

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def cluster_nodes(self) -> list[ClusterNode]:
        return [ClusterNode(name=n) for n in NODES]

    def host_report(self, host: str) -> HostReport:
        self.barrier.wait()
        return HostReport(name=host, reachable=False, error="not in the lab")

    def read_cluster(self, *args, **kwargs):
        self.barrier.wait()
        return self.inner.read_cluster(*args, **kwargs)


def test_a_whole_cluster_is_one_wave(tmp_path: Path) -> None:
    assert MAX_HOSTS_AT_ONCE >= len(NODES)
    session = open_demo(tmp_path / "lab", step_delay=0)
    barrier = threading.Barrier(len(NODES) + 1, timeout=20)  # 64 hosts + the directory read
    progress: list[int] = []

    snapshot = take_snapshot(Rendezvous(session.directory, barrier), Rendezvous(session.hosts, barrier),
                             session.cluster, progress=lambda _m, done, _t: progress.append(done))

    assert not barrier.broken
    assert [n.name for n in snapshot.nodes] == NODES
    assert progress[-1] == len(NODES) + 1


def test_a_smaller_limit_still_finishes(tmp_path: Path) -> None:
    session = open_demo(tmp_path / "lab", step_delay=0)
    snapshot = take_snapshot(session.directory, session.hosts, session.cluster, max_hosts=1)
    assert [n.name for n in snapshot.nodes] == ["HV01", "HV02", "HV03", "HV04"]
