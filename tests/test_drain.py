"""Drain readiness: each blocker on its own, placement of several VMs on one destination, and the lab's
drain scenarios planned from a real lab snapshot."""

from __future__ import annotations

import pytest

from lmdoctor.services.backends.hosts.base import CommandMissing, HostError
from lmdoctor.services.backends.lab.scenarios import GIB
from lmdoctor.services.domain import drain
from lmdoctor.services.domain.diagnosis import diagnose
from lmdoctor.services.domain.models import (
    UAC_WORKSTATION_TRUST_ACCOUNT,
    AuthType,
    HostReport,
    Incompatibility,
    Snapshot,
    VirtualMachine,
    VMHostSettings,
)
from lmdoctor.services.operations import drain_preflight
from lmdoctor.services.operations.inventory import take_snapshot
from tests.support.snapshots import synthetic

CPU = "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz"


def cluster(count: int = 3, vms: dict[str, int] | None = None, free: dict[str, int] | None = None,
            lacking=(), **host_changes) -> Snapshot:
    """`count` nodes N001…, the VMs (name → GiB) on N001, `free` GiB per destination (default 64)."""
    base = synthetic(count, lacking=lacking)
    nodes = []
    for node in base.nodes:
        on_source = node.name == "N001"
        report = HostReport(
            name=node.name,
            settings=VMHostSettings(migration_enabled=True, auth_type=AuthType.KERBEROS, max_migrations=2),
            vms=tuple(VirtualMachine(name=v, host=node.name, memory_assigned=g * GIB, memory_startup=g * GIB,
                                     version="9.0") for v, g in (vms or {}).items()) if on_source else (),
            memory_free=(free or {}).get(node.name, 64) * GIB, processor=CPU,
            supported_versions=("8.0", "9.0"))
        report = report.model_copy(update=host_changes.get(node.name, {}))
        nodes.append(node.model_copy(update={"host": report}))
    return base.model_copy(update={"nodes": tuple(nodes)})


def codes(plan: drain.DrainPlan, vm: str) -> set[str]:
    return {b.code for p in plan.placements if p.vm == vm for b in p.blockers}


def test_several_vms_pile_onto_one_destination_within_its_headroom():
    snap = cluster(3, vms={"A": 8, "B": 6, "C": 4, "D": 2}, free={"N002": 16, "N003": 64})
    plan = drain.plan(snap, "N001")
    placed = {p.vm: p.destination for p in plan.placements}
    # first-fit-decreasing: A (8) and B (6) fill N002 to 2 GiB left, C (4) spills to N003, D (2) fits N002
    assert placed == {"A": "N002", "B": "N002", "C": "N003", "D": "N002"}
    assert [p.vm for p in plan.placements] == ["A", "B", "C", "D"]
    assert codes(plan, "C") == {"memory"}
    assert plan.drainable and plan.waves == 2  # N002 receives 3 VMs, two at a time


def test_no_headroom_blocks_with_the_figures():
    plan = drain.plan(cluster(3, vms={"A": 8}, free={"N002": 6, "N003": 7}), "N001")
    assert not plan.drainable and plan.placements[0].destination is None
    texts = [b.text for b in plan.placements[0].blockers]
    assert texts == ["N002 has 6.0 GiB free (after the VMs placed before), A needs 8.0 GiB",
                     "N003 has 7.0 GiB free (after the VMs placed before), A needs 8.0 GiB"]


def test_an_off_vm_needs_no_memory():
    snap = cluster(2, vms={"A": 8}, free={"N002": 1})
    vm = snap.nodes[0].host.vms[0].model_copy(update={"state": "Off"})
    snap = snap.model_copy(update={"nodes": (snap.nodes[0].model_copy(update={"host": snap.nodes[0].host.model_copy(
        update={"vms": (vm,)})}), snap.nodes[1])})
    assert drain.plan(snap, "N001").drainable


def test_processor_mismatch_blocks_only_without_compatibility_mode():
    other = {"processor": "AMD EPYC 7302"}
    snap = cluster(2, vms={"A": 2, "B": 2}, N002=other)
    src = snap.nodes[0]
    vms = tuple(v.model_copy(update={"processor_compatibility": v.name == "B"}) for v in src.host.vms)
    snap = snap.model_copy(update={"nodes": (src.model_copy(update={"host": src.host.model_copy(
        update={"vms": vms})}), snap.nodes[1])})
    plan = drain.plan(snap, "N001")
    assert {p.vm: p.destination for p in plan.placements} == {"A": None, "B": "N002"}
    assert codes(plan, "A") == {"processor"}


def test_configuration_version_unsupported_on_the_destination():
    plan = drain.plan(cluster(2, vms={"A": 2}, N002={"supported_versions": ("5.0", "8.0")}), "N001")
    (blocker,) = plan.placements[0].blockers
    assert blocker.code == "version" and "9.0 is not supported on N002" in blocker.text


def test_migration_disabled_on_the_destination_names_the_finding():
    disabled = VMHostSettings(migration_enabled=False, auth_type=AuthType.KERBEROS)
    plan = drain.plan(cluster(2, vms={"A": 2}, N002={"settings": disabled}), "N001")
    (blocker,) = plan.placements[0].blockers
    assert (blocker.code, blocker.finding) == ("migration.disabled", "migration.disabled:N002:-")


def test_migration_limit_and_auth_type_mismatch():
    none_at_once = VMHostSettings(migration_enabled=True, auth_type=AuthType.KERBEROS, max_migrations=0)
    credssp = VMHostSettings(migration_enabled=True, auth_type=AuthType.CREDSSP)
    plan = drain.plan(cluster(3, vms={"A": 2}, N002={"settings": none_at_once}, N003={"settings": credssp}), "N001")
    assert codes(plan, "A") == {"migration.limit", "auth.mismatch"}
    assert not plan.drainable


def test_missing_delegation_names_the_fix_and_the_plan_goes_elsewhere():
    plan = drain.plan(cluster(3, vms={"A": 2}, lacking=[(0, 1)]), "N001")
    (placement,) = plan.placements
    assert placement.destination == "N003"
    (blocker,) = placement.blockers
    assert (blocker.code, blocker.destination, blocker.finding) == \
        ("delegation", "N002", "delegation.missing:N001:N002")


def on_share(snap: Snapshot, vm: str, path: str = "\\\\FS01\\VMs\\A\\A.vhdx",
             cifs: dict[str, tuple[str, ...]] | None = None) -> Snapshot:
    """`vm` of N001 has its disk on `path`; `cifs`: the cifs values each node holds (default: none)."""
    nodes = []
    for node in snap.nodes:
        account = node.account.model_copy(update={"allowed_to_delegate_to": node.account.allowed_to_delegate_to
                                                  + (cifs or {}).get(node.name, ())})
        vms = tuple(v.model_copy(update={"paths": (path,)}) if v.name == vm else v for v in node.host.vms)
        nodes.append(node.model_copy(update={"account": account, "host": node.host.model_copy(update={"vms": vms})}))
    return snap.model_copy(update={"nodes": tuple(nodes)})


FS01 = ("cifs/FS01", "cifs/fs01.example.test")


def test_a_vm_on_smb_goes_only_to_a_destination_that_may_delegate_to_the_file_server():
    """Microsoft's "Set up hosts for live migration without Failover Clustering": each host delegates to cifs
    to move storage; the destination runs the VM and opens its files too (lmdoctor.services.domain.vm_storage)."""
    snap = on_share(cluster(3, vms={"A": 2, "B": 2}), "A", cifs={"N001": FS01, "N003": FS01})
    plan = drain.plan(snap, "N001")
    assert {p.vm: p.destination for p in plan.placements} == {"A": "N003", "B": "N002"}
    (blocker,) = next(p for p in plan.placements if p.vm == "A").blockers
    assert (blocker.code, blocker.destination, blocker.finding) == \
        ("storage.smb", "N002", "storage.smb_delegation:N002:FS01")
    assert blocker.text == "A's files are on FS01's shares and N002 (the destination) lacks cifs/FS01"


def test_a_source_lacking_the_file_servers_cifs_keeps_the_vm_where_it_is():
    snap = on_share(cluster(3, vms={"A": 2, "B": 2}), "A", cifs={"N002": FS01, "N003": FS01})
    plan = drain.plan(snap, "N001")
    a = next(p for p in plan.placements if p.vm == "A")
    assert a.destination is None and not plan.drainable
    assert [(b.destination, b.code, b.finding) for b in a.blockers] == \
        [(None, "storage.smb", "storage.smb_delegation:N001:FS01")]
    assert next(p for p in plan.placements if p.vm == "B").destination == "N002"  # local storage: unaffected
    assert [b["finding"] for b in plan.to_json()["vms"][0]["blockers"]] == ["storage.smb_delegation:N001:FS01"]


def test_only_the_file_server_name_the_paths_use_blocks():
    short_only = {n: ("cifs/FS01",) for n in ("N001", "N002")}
    assert drain.plan(on_share(cluster(2, vms={"A": 2}), "A", cifs=short_only), "N001").drainable
    by_fqdn = on_share(cluster(2, vms={"A": 2}), "A", path="\\\\fs01.example.test\\VMs\\A.vhdx", cifs=short_only)
    assert codes(drain.plan(by_fqdn, "N001"), "A") == {"storage.smb"}


def test_preflight_words_are_shown_safely():
    words = Incompatibility(message="Could not find Ethernet switch 'LAN\x1b[31m'.", message_id=33012)
    plan = drain.plan(cluster(2, vms={"A": 2}), "N001", preflight={("A", "N002"): drain.HostAnswer((words,), True)})
    (blocker,) = plan.placements[0].blockers
    assert blocker.code == "preflight" and "\x1b" not in blocker.text and "␛[31m" in blocker.text
    assert blocker.text.startswith("Compare-VM 33012: Could not find Ethernet switch 'LAN")
    assert blocker.message_id == 33012 and plan.to_json()["vms"][0]["blockers"][0]["message_id"] == 33012


def test_compare_vm_judges_processor_and_version_where_it_answered():
    """Processor names differ and the version list lacks 9.0, but Compare-VM found the VM compatible: the host's
    judgement stands (lmdoctor's own check only compares names); where it did not answer, lmdoctor's stands."""
    snap = cluster(3, vms={"A": 2}, N002={"processor": "Intel(R) Xeon(R) Gold 6230R CPU @ 2.10GHz",
                                          "supported_versions": ("8.0",)},
                   N003={"processor": "AMD EPYC 7302"})
    plan = drain.plan(snap, "N001", preflight={("A", "N002"): drain.HostAnswer((), compared=True)})
    assert plan.placements[0].destination == "N002" and plan.placements[0].blockers == ()
    plan = drain.plan(snap, "N001")
    assert codes(plan, "A") == {"processor", "version"} and not plan.drainable


def test_each_incompatibility_is_a_blocker_with_the_hosts_words_and_id():
    found = (Incompatibility(message="Virtual machine 'A' is using processor-specific features not supported on "
                                     "host 'N002'.", message_id=21014, source="VMProcessor"),
             Incompatibility(message="Could not find Ethernet switch 'Production'.", message_id=33012))
    what_if = Incompatibility(message="Virtual machine migration operation for 'A' failed at migration source.")
    plan = drain.plan(cluster(3, vms={"A": 2}), "N001", preflight={
        ("A", "N002"): drain.HostAnswer(found, compared=True),
        ("A", "N003"): drain.HostAnswer((what_if,), command="Move-VM -WhatIf")})
    assert [(b.destination, b.message_id, b.text.split(":")[0]) for b in plan.placements[0].blockers] == [
        ("N002", 21014, "Compare-VM 21014"), ("N002", 33012, "Compare-VM 33012"),
        ("N003", None, "Move-VM -WhatIf")]
    assert not plan.drainable


def test_unknown_and_unreachable_nodes_cannot_be_checked():
    snap = cluster(2, vms={"A": 2}, N001={"reachable": False, "error": "WinRM did not answer"})
    assert drain.plan(snap, "N001").error == "N001 did not answer: WinRM did not answer"
    assert drain.plan(snap, "N009").error == "N009 is not a node of cluster BIGCLUSTER"
    assert not drain.plan(snap, "N009").checked


def test_clustered_vms_carry_the_path_note():
    snap = cluster(2, vms={"A": 2})
    assert drain.plan(snap, "N001").notes == ()
    src = snap.nodes[0]
    vms = tuple(v.model_copy(update={"clustered": True}) for v in src.host.vms)
    snap = snap.model_copy(update={"nodes": (src.model_copy(update={"host": src.host.model_copy(
        update={"vms": vms})}), snap.nodes[1])})
    plan = drain.plan(snap, "N001")
    assert plan.placements[0].clustered and plan.notes == (drain.CLUSTER_NOTE,)


# --- the lab's scenarios -------------------------------------------------------------------------------
def lab_plan(lab_session, scenario: str) -> drain.DrainPlan:
    session = lab_session(scenario)
    return drain.plan(take_snapshot(session.directory, session.hosts, session.cluster), "HV01")


def test_lab_healthy_drains(lab_session):
    plan = lab_plan(lab_session, "healthy")
    assert plan.drainable and {p.vm: p.destination for p in plan.placements} == {"APP01": "HV02", "APP02": "HV02"}


def test_lab_seed_goes_around_the_missing_delegation(lab_session):
    plan = lab_plan(lab_session, "seed")
    assert plan.drainable and {p.destination for p in plan.placements} == {"HV03"}
    assert {(b.destination, b.finding) for p in plan.placements for b in p.blockers} == \
        {("HV02", "delegation.missing:HV01:HV02")}


def test_lab_no_headroom(lab_session):
    plan = lab_plan(lab_session, "drain-no-headroom")
    assert not plan.drainable
    assert {p.vm: p.destination for p in plan.placements} == {"APP01": None, "APP02": "HV02"}
    assert codes(plan, "APP01") == {"memory"}


def test_lab_cpu(lab_session):
    plan = lab_plan(lab_session, "drain-cpu")
    assert not plan.drainable and codes(plan, "APP01") == {"processor"}


def test_lab_migration_disabled(lab_session):
    plan = lab_plan(lab_session, "drain-migration-disabled")
    assert not plan.drainable
    assert {b.finding for p in plan.placements for b in p.blockers} == \
        {f"migration.disabled:HV0{i}:-" for i in (2, 3, 4)}


def test_lab_smb_storage(lab_session):
    plan = lab_plan(lab_session, "smb-storage")
    assert not plan.drainable and {p.vm: p.destination for p in plan.placements} == {"APP01": None, "APP02": "HV02"}
    assert [(b.code, b.finding) for p in plan.placements for b in p.blockers] == \
        [("storage.smb", "storage.smb_delegation:HV01:FS01")]


# --- the hosts' pre-flight: Compare-VM, and Move-VM -WhatIf where it is missing ----------------------------
def preflight_plan(session, node: str = "HV01") -> tuple[drain.DrainPlan, drain.Preflight]:
    snapshot = take_snapshot(session.directory, session.hosts, session.cluster)
    answers = drain_preflight.collect(session.hosts, snapshot, node).answers
    return drain.plan(snapshot, node, answers), answers


def test_lab_compare_vm_reports_each_incompatibility_from_the_lab_state(lab_session):
    hosts = lab_session("drain-switch").hosts
    assert hosts.compare_vm("APP02", "HV01", "HV02") == ()
    (switch,) = hosts.compare_vm("APP01", "HV01", "HV02")
    assert (switch.message_id, switch.message) == (33012, "Could not find Ethernet switch 'Production'.")
    assert switch.source.startswith("VMNetworkAdapter")
    (cpu,) = lab_session("drain-cpu").hosts.compare_vm("APP01", "HV01", "HV03")
    assert cpu.message_id == 21014 and "processor-specific features not supported on host 'HV03'" in cpu.message
    (memory,) = lab_session("drain-no-headroom").hosts.compare_vm("APP01", "HV01", "HV02")
    assert memory.message_id == 40010 and "Ran out of memory (0x8007000E)" in memory.message
    seed = lab_session("seed").hosts
    with pytest.raises(HostError, match="0x8009030E"):  # Compare-VM reaches the destination as the operator
        seed.compare_vm("APP01", "HV01", "HV02")
    with pytest.raises(HostError, match="unable to find a virtual machine"):
        seed.compare_vm("NOSUCHVM", "HV01", "HV03")


def test_lab_version_unsupported_on_the_destination(lab_session):
    session = lab_session("healthy")
    state = session.hosts.store.load_hosts()
    state.hosts["HV02"].supported_versions = ["8.0"]
    session.hosts.store.save_hosts(state)
    (version,) = session.hosts.compare_vm("APP01", "HV01", "HV02")
    assert version.message_id == 14420 and "configuration version 9.0" in version.message


def test_lab_drain_switch_is_blocked_by_the_hosts_words(lab_session):
    plan, answers = preflight_plan(lab_session("drain-switch"))
    assert {p.vm: p.destination for p in plan.placements} == {"APP01": None, "APP02": "HV02"}
    assert [(b.destination, b.code, b.message_id) for b in plan.placements[0].blockers] == \
        [(d, "preflight", 33012) for d in ("HV02", "HV03", "HV04")]
    assert all(a.compared and a.command == "Compare-VM" for a in answers.values())


def test_lab_drain_cpu_shows_compare_vm_instead_of_the_name_comparison(lab_session):
    plan, _ = preflight_plan(lab_session("drain-cpu"))
    assert codes(plan, "APP01") == {"preflight"} and not plan.drainable
    assert {b.message_id for p in plan.placements for b in p.blockers} == {21014}


def test_lab_healthy_compares_only_the_pairs_the_plan_reads_and_drains(lab_session):
    plan, answers = preflight_plan(lab_session("healthy"))
    assert plan.drainable and set(answers) == {("APP01", "HV02"), ("APP02", "HV02")}  # HV02, the first, takes both
    assert all(a.compared and a.words == () for a in answers.values())


class NoCompareVM:
    """A host gateway whose hosts have no Compare-VM (an older Hyper-V module)."""

    def __init__(self, hosts) -> None:
        self.hosts, self.asked = hosts, 0

    def compare_vm(self, vm: str, source: str, destination: str):
        self.asked += 1
        raise CommandMissing(f"{source}: Compare-VM is not available")

    def move_vm(self, *args, **kwargs):
        return self.hosts.move_vm(*args, **kwargs)


def test_without_compare_vm_the_pre_flight_falls_back_to_move_vm_what_if(lab_session):
    """clock-skew: HV02's clock is off, so a move to it is refused; the planner cannot tell, the host can."""
    session = lab_session("clock-skew")
    snapshot = take_snapshot(session.directory, session.hosts, session.cluster)
    hosts = NoCompareVM(session.hosts)
    collected = drain_preflight.collect(hosts, snapshot, "HV01")
    assert hosts.asked == 1  # asked once; every other pair went straight to -WhatIf
    assert collected.asked == {(vm, d): "Move-VM -WhatIf" for vm in ("APP01", "APP02") for d in ("HV02", "HV03")}
    answers = collected.answers
    assert set(answers) == {("APP01", "HV02"), ("APP02", "HV02")}  # only refusals are kept
    answer = answers[("APP01", "HV02")]
    assert answer.command == "Move-VM -WhatIf" and not answer.compared
    assert answer.words[0].message_id is None and answer.words[0].message.endswith("(0x80090324).")
    plan = drain.plan(snapshot, "HV01", answers)
    assert {p.destination for p in plan.placements} == {"HV03"} and codes(plan, "APP01") == {"preflight"}


# --- the CLI ---------------------------------------------------------------------------------------------
def test_cli_exit_codes(tmp_path):
    import json

    from tests.support.cli_lab import lmdoctor

    root = str(tmp_path / "lab")
    for scenario, code in (("healthy", 0), ("drain-no-headroom", 1), ("smb-storage", 1)):
        assert lmdoctor("lab", "reset", "--scenario", scenario, "--lab-dir", root).returncode == 0
        r = lmdoctor("drain", "--node", "HV01", "--json", "--lab-dir", root)
        assert r.returncode == code, r.stderr
        assert json.loads(r.stdout)["drainable"] is (code == 0)
    apps = {v["vm"]: v for v in json.loads(r.stdout)["vms"]}  # smb-storage
    assert [b["finding"] for b in apps["APP01"]["blockers"]] == ["storage.smb_delegation:HV01:FS01"]
    assert lmdoctor("lab", "reset", "--scenario", "drain-switch", "--lab-dir", root).returncode == 0
    r = lmdoctor("drain", "--node", "HV01", "--json", "--lab-dir", root)
    apps = {v["vm"]: v for v in json.loads(r.stdout)["vms"]}
    assert r.returncode == 1 and apps["APP01"]["destination"] is None and apps["APP02"]["destination"] == "HV02"
    assert [(b["destination"], b["code"], b["message_id"], b["text"]) for b in apps["APP01"]["blockers"]] == [
        (d, "preflight", 33012, "Compare-VM 33012: Could not find Ethernet switch 'Production'.")
        for d in ("HV02", "HV03", "HV04")]
    r = lmdoctor("drain", "--node", "HV09", "--lab-dir", root)
    assert r.returncode == 2 and "HV09 is not a node of cluster HVCLUSTER" in r.stdout
    r = lmdoctor("drain", "--node", "HV01;rm", "--lab-dir", root)
    assert r.returncode == 2 and r.stdout == ""


def test_a_destination_without_protocol_transition_cannot_take_a_vm_on_a_share():
    """N002 holds cifs/FS01 but is 'Kerberos only': the KCD to the file server a remote move needs is refused
    (lmdoctor.services.domain.vm_storage), so A goes to N003; the blocker points at delegation.kerberos_only."""
    snap = on_share(cluster(3, vms={"A": 2, "B": 2}), "A", cifs={n: FS01 for n in ("N001", "N002", "N003")})
    n002 = snap.node("N002")
    kerberos_only = n002.account.model_copy(update={"uac": UAC_WORKSTATION_TRUST_ACCOUNT})
    snap = snap.model_copy(update={"nodes": tuple(n.model_copy(update={"account": kerberos_only}) if n is n002 else n
                                                  for n in snap.nodes)})
    findings = diagnose(snap)
    plan = drain.plan(snap, "N001", findings=findings)
    assert {p.vm: p.destination for p in plan.placements} == {"A": "N003", "B": "N002"}
    (blocker,) = next(p for p in plan.placements if p.vm == "A").blockers
    assert (blocker.code, blocker.destination, blocker.finding) == \
        ("storage.smb", "N002", "delegation.kerberos_only:N002:-")
    assert blocker.text == "A's files are on FS01's shares and N002 (the destination) lacks protocol transition"
    assert blocker.finding in {f.id for f in findings}
