"""The drain pre-flight asks the hosts only about the (VM, destination) pairs the plan reads, and the plan it
gives is the one every pair's answer would give: the lab's scenarios, hand-built clusters and random ones
against a full-matrix collection written here (Compare-VM for every VM of the node and every peer that
answers, one after the other, as the pre-flight did before)."""

from __future__ import annotations

import random

import pytest

from lmdoctor.services.backends.hosts.base import CommandMissing, HostError
from lmdoctor.services.backends.lab.scenarios import SCENARIOS
from lmdoctor.services.domain import drain
from lmdoctor.services.domain.models import Incompatibility, MoveResult, Snapshot
from lmdoctor.services.operations import drain_preflight
from lmdoctor.services.operations.inventory import take_snapshot
from tests.test_drain import cluster

Pair = tuple[str, str]


def full_matrix(hosts, snapshot: Snapshot, node: str) -> drain.Preflight:
    """The reference: every VM of `node` against every peer that answers, each pair as the pre-flight answers it."""
    src = snapshot.node(node.upper())
    if src is None or src.host is None or not src.host.reachable:
        return {}
    found: dict[Pair, drain.HostAnswer] = {}
    peers = [n.name for n in snapshot.nodes if n.name != src.name and n.host is not None and n.host.reachable]
    compare = True
    for vm in src.host.vms:
        for peer in peers:
            answer = None
            if compare:
                try:
                    answer = drain.HostAnswer(hosts.compare_vm(vm.name, src.name, peer), compared=True)
                except CommandMissing:
                    compare = False
                except HostError as exc:
                    answer = drain.HostAnswer((Incompatibility(message=str(exc)),))
            if not compare:
                answer = drain_preflight._what_if(hosts, vm.name, src.name, peer)
            if answer is not None and (answer.words or answer.compared):
                found[(vm.name, peer)] = answer
    return found


def matrix(snapshot: Snapshot, node: str) -> set[Pair]:
    src = snapshot.node(node)
    return {(vm.name, n.name) for vm in src.host.vms for n in snapshot.nodes
            if n.name != node and n.host is not None and n.host.reachable}


class Counting:
    """A host gateway that notes every question put to the hosts, then passes it on."""

    def __init__(self, hosts, compare: bool = True) -> None:
        self.hosts, self.compare = hosts, compare
        self.compared: list[Pair] = []
        self.what_ifs: list[Pair] = []

    def compare_vm(self, vm: str, source: str, destination: str):
        self.compared.append((vm, destination))
        if not self.compare:
            raise CommandMissing(f"{source}: Compare-VM is not available")
        return self.hosts.compare_vm(vm, source, destination)

    def move_vm(self, vm: str, source: str, destination: str, what_if: bool = False, progress=None):
        assert what_if, "the pre-flight never moves a VM"
        self.what_ifs.append((vm, destination))
        return self.hosts.move_vm(vm, source, destination, what_if=True)


class Table:
    """Hosts that answer from a table: (VM, destination) → Compare-VM's incompatibilities, or a refusal."""

    def __init__(self, words: dict[Pair, str] | None = None, refused: set[Pair] | None = None) -> None:
        self.words, self.refused = words or {}, refused or set()

    def compare_vm(self, vm: str, source: str, destination: str) -> tuple[Incompatibility, ...]:
        if (vm, destination) in self.refused:
            raise HostError(f"{destination} refused the connection from {source}")
        said = self.words.get((vm, destination))
        return (Incompatibility(message=said, message_id=33012),) if said else ()

    def move_vm(self, vm: str, source: str, destination: str, what_if: bool = False, progress=None) -> MoveResult:
        if (vm, destination) in self.refused:
            raise HostError(f"{destination} refused the connection from {source}")
        said = self.words.get((vm, destination))
        return MoveResult(vm=vm, source=source, destination=destination, what_if=what_if, ok=not said, error=said)


def check_equivalent(make_hosts, snapshot: Snapshot, node: str) -> drain_preflight.Collected:
    """The lazy pre-flight's plan is the full matrix's; it asks no pair twice and none outside the matrix."""
    lazy_hosts, full_hosts = make_hosts(), make_hosts()
    collected = drain_preflight.collect(lazy_hosts, snapshot, node)
    reference = full_matrix(full_hosts, snapshot, node)
    assert drain.plan(snapshot, node, collected.answers) == drain.plan(snapshot, node, reference)
    asked = lazy_hosts.what_ifs + (lazy_hosts.compared if lazy_hosts.compare else [])
    assert lazy_hosts.compare or len(lazy_hosts.compared) <= 1  # Compare-VM missing: found out once
    assert sorted(asked) == sorted(collected.asked) and len(set(asked)) == len(asked)
    assert set(collected.asked) <= matrix(snapshot, node)
    assert {p: reference[p] for p in collected.asked if p in reference} == dict(collected.answers)
    assert set(collected.asked.values()) <= {"Compare-VM" if lazy_hosts.compare else drain_preflight.WHAT_IF}
    return collected


# --- equivalence ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("compare", [True, False], ids=["compare-vm", "what-if"])
def test_every_lab_scenario_plans_as_the_full_matrix(lab_session, scenario, compare):
    session = lab_session(scenario)
    snapshot = take_snapshot(session.directory, session.hosts, session.cluster)
    nodes = [n.name for n in snapshot.nodes if n.host is not None and n.host.vms]
    assert nodes
    for node in nodes:
        check_equivalent(lambda: Counting(session.hosts, compare), snapshot, node)


def table(words=None, refused=None, compare=True):
    return lambda: Counting(Table(words, refused), compare)


VMS = {"A": 8, "B": 4, "C": 2}  # GiB, on N001


@pytest.mark.parametrize("compare", [True, False], ids=["compare-vm", "what-if"])
@pytest.mark.parametrize(("words", "refused"), [
    ({}, set()),  # compatible everywhere
    ({(vm, d): "Could not find Ethernet switch 'Production'." for vm in VMS for d in ("N002", "N003", "N004")},
     set()),  # incompatible everywhere
    ({("A", "N002"): "no switch", ("B", "N003"): "no switch"}, {("C", "N002")}),  # with some peers
    ({}, {(vm, d) for vm in VMS for d in ("N002", "N003", "N004")}),  # every host refuses
], ids=["none", "all", "some", "refused"])
def test_hand_built_clusters_plan_as_the_full_matrix(words, refused, compare):
    snap = cluster(4, vms=VMS, free={"N002": 8, "N003": 12})
    check_equivalent(table(words, refused, compare), snap, "N001")


def test_a_host_answer_that_moves_a_vm_elsewhere_is_followed_to_the_end():
    """A (8 GiB) fills N002 unless the host turns it away; then B fits on N002 and A goes to N003: it takes
    rounds, each asking what the plan made of the answers before it read."""
    snap = cluster(3, vms={"A": 8, "B": 4}, free={"N002": 8})
    collected = check_equivalent(table({("A", "N002"): "no switch"}), snap, "N001")
    assert tuple(collected.asked) == (("A", "N002"), ("B", "N002"), ("B", "N003"), ("A", "N003"))
    assert {p.vm: p.destination for p in drain.plan(snap, "N001", collected.answers).placements} == \
        {"A": "N003", "B": "N002"}


def test_random_clusters_plan_as_the_full_matrix():
    """300 clusters: 2-6 nodes, 1-5 VMs, random memory, delegation gaps, incompatibilities and refusals."""
    rng = random.Random(20261126)
    for _ in range(300):
        count = rng.randint(2, 6)
        vms = {f"V{i}": rng.randint(1, 8) for i in range(rng.randint(1, 5))}
        peers = [f"N{i:03d}" for i in range(2, count + 1)]
        free = {p: rng.randint(0, 16) for p in peers}
        lacking = [(0, j) for j in range(1, count) if rng.random() < 0.2]
        pairs = [(vm, p) for vm in vms for p in peers]
        words = {pair: "no switch" for pair in pairs if rng.random() < 0.3}
        refused = {pair for pair in pairs if rng.random() < 0.1}
        snap = cluster(count, vms=vms, free=free, lacking=lacking)
        check_equivalent(table(words, refused, rng.random() < 0.8), snap, "N001")


def test_a_refused_comparison_is_kept_as_the_hosts_text_and_the_vm_goes_on():
    snap = cluster(3, vms={"A": 2})
    collected = check_equivalent(table(refused={("A", "N002")}), snap, "N001")
    assert dict(collected.asked) == {("A", "N002"): "Compare-VM", ("A", "N003"): "Compare-VM"}
    answer = collected.answers[("A", "N002")]
    assert (answer.words[0].message, answer.compared) == ("N002 refused the connection from N001", False)
    assert drain.plan(snap, "N001", collected.answers).placements[0].destination == "N003"


# --- how many questions ----------------------------------------------------------------------------------
def test_vms_the_first_peer_takes_cost_one_compare_vm_each():
    """64 nodes, 10 VMs that all fit on N002: 10 questions where the full matrix asks 10 × 63 = 630."""
    snap = cluster(64, vms={f"VM{i:02d}": 2 for i in range(10)})
    hosts = Counting(Table())
    drain_preflight.collect(hosts, snap, "N001")
    assert sorted(hosts.compared) == [(f"VM{i:02d}", "N002") for i in range(10)] and hosts.what_ifs == []
    full = Counting(Table())
    full_matrix(full, snap, "N001")
    assert len(full.compared) == 630


def test_a_vm_no_peer_takes_is_compared_with_every_peer():
    """VM00 is incompatible with all 63 peers: each is asked; the other VMs still cost one question each."""
    snap = cluster(64, vms={f"VM{i:02d}": 2 for i in range(10)})
    hosts = Counting(Table({("VM00", f"N{i:03d}"): "no switch" for i in range(2, 65)}))
    drain_preflight.collect(hosts, snap, "N001")
    assert sorted(d for vm, d in hosts.compared if vm == "VM00") == [f"N{i:03d}" for i in range(2, 65)]
    assert len(hosts.compared) == 63 + 9


def test_lab_drain_switch_asks_four_pairs_of_six(lab_session):
    """APP01 is turned away by every peer (3 questions), APP02 goes to the first (1)."""
    session = lab_session("drain-switch")
    snapshot = take_snapshot(session.directory, session.hosts, session.cluster)
    hosts = Counting(session.hosts)
    drain_preflight.collect(hosts, snapshot, "HV01")
    assert sorted(hosts.compared) == [("APP01", "HV02"), ("APP01", "HV03"), ("APP01", "HV04"), ("APP02", "HV02")]


def test_a_node_the_planner_rejects_outright_asks_nothing():
    """Every peer is blocked by lmdoctor's own checks (delegation missing): no host is asked."""
    snap = cluster(4, vms=VMS, lacking=[(0, 1), (0, 2), (0, 3)])
    hosts = Counting(Table())
    collected = drain_preflight.collect(hosts, snap, "N001")
    assert hosts.compared == [] and collected.asked == {} and not drain.plan(snap, "N001", collected.answers).drainable
