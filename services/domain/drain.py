"""Drain readiness: can every VM of a node be moved away right now, and where to? Pure: snapshot + host facts
(+ the hosts' own pre-flight words) in, a plan out; no I/O.

A destination is a candidate for a VM when every check passes: the destination answers and is Up, live
migration is enabled on both ends with the same authentication type (Kerberos: a remote Move-VM under CredSSP
fails), the source may delegate to the destination (the matrix's pair status), the simultaneous-migration limit
is at least one on both ends, the VM's configuration version is among the destination's supported versions,
the processors match or the VM runs in processor compatibility mode, a VM on SMB shares may be opened by
both ends (each delegates to cifs/<file server> by the name the VM's paths use: lmdoctor.services.domain.
vm_storage), and the host's pre-flight reported no incompatibility (Compare-VM's report, whose words and
MessageIds are shown as the host gives them; where it answered, its judgement of processor and configuration
version replaces lmdoctor's own, which only compares processor names and version lists). A source lacking a file server's cifs
blocks its VMs on that server from going anywhere. Placement is first-fit-decreasing by memory: the largest VM first, each to the first candidate
(by name) whose remaining free memory holds it; a running VM needs its assigned memory (its startup memory
when none is reported), a VM that is off needs none.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from lmdoctor.services.domain import vm_storage
from lmdoctor.services.domain.diagnosis import diagnose
from lmdoctor.services.domain.matrix import pair
from lmdoctor.services.domain.models import (
    AuthType,
    Finding,
    HostReport,
    Incompatibility,
    NodeSnapshot,
    Snapshot,
    VirtualMachine,
    VMHostSettings,
)
from lmdoctor.services.domain.safetext import visible


@dataclass(frozen=True)
class HostAnswer:
    """What the source host said about moving one VM to one destination."""

    words: tuple[Incompatibility, ...] = ()  # what stops the move, as the host words it (empty: nothing)
    compared: bool = False  # Compare-VM's report: it judged processor and configuration version itself
    command: str = "Compare-VM"  # or "Move-VM -WhatIf" where Compare-VM is missing


Preflight = Mapping[tuple[str, str], HostAnswer]  # (VM, destination) -> the host's answer

CLUSTER_NOTE = ("Clustered VMs: this plan covers Move-VM between nodes. A cluster drain (Suspend-ClusterNode "
                "-Drain) picks its own destinations but needs the same authentication, memory and compatibility.")


class Reason(NamedTuple):
    """Why a VM cannot go somewhere, before it is tied to a VM and a destination."""

    code: str
    text: str
    finding: str | None = None
    message_id: int | None = None


@dataclass(frozen=True)
class Blocker:
    """Why one VM cannot go to one destination (or anywhere, when destination is None)."""

    vm: str
    destination: str | None
    code: str
    text: str
    finding: str | None = None  # the id of the finding (lmdoctor check) whose fix removes it
    message_id: int | None = None  # a host's pre-flight: Compare-VM's MessageId


@dataclass(frozen=True)
class Placement:
    vm: str
    memory: int  # bytes the destination must have free
    clustered: bool
    destination: str | None
    blockers: tuple[Blocker, ...] = ()  # the rejected destinations (all of them when destination is None)


@dataclass(frozen=True)
class DrainPlan:
    node: str
    placements: tuple[Placement, ...] = ()
    error: str | None = None  # set when the node could not be checked
    waves: int = 0  # rounds of simultaneous moves the limits allow
    notes: tuple[str, ...] = field(default=())

    @property
    def checked(self) -> bool:
        return self.error is None

    @property
    def drainable(self) -> bool:
        return self.checked and all(p.destination for p in self.placements)

    def to_json(self) -> dict:
        return {"node": self.node, "checked": self.checked, "drainable": self.drainable, "error": self.error,
                "waves": self.waves, "notes": list(self.notes),
                "vms": [{"vm": p.vm, "memory": p.memory, "clustered": p.clustered, "destination": p.destination,
                         "blockers": [b.__dict__ for b in p.blockers]} for p in self.placements]}


def need(vm: VirtualMachine) -> int:
    """Memory the destination must have free for this VM (bytes)."""
    if vm.state.lower() in ("off", "saved"):
        return 0
    return vm.memory_assigned or vm.memory_startup


def _gib(value: int) -> str:
    return f"{value / (1 << 30):.1f} GiB"


def _finding(findings: list[Finding], codes: tuple[str, ...], nodes: tuple[str, ...]) -> str | None:
    """The id of the first finding of these codes about these nodes (as source or target)."""
    return next((f.id for f in findings if f.code in codes and (f.source in nodes or f.target in nodes)), None)


def _destination_blockers(snapshot: Snapshot, findings: list[Finding], src: NodeSnapshot, ours: VMHostSettings,
                          dst: NodeSnapshot) -> list[Reason]:
    """What stops any VM of src (whose settings are `ours`) from going to dst."""
    found: list[Reason] = []
    report, settings = dst.host, dst.host.settings if dst.host else None
    if report is None or not report.reachable or settings is None:
        why = visible(report.error) if report and report.error else "no host report"
        return [Reason("host.unreachable", f"{dst.name} did not answer: {why}",
                       _finding(findings, ("host.unreachable",), (dst.name,)))]
    if dst.cluster_state != "Up":
        found.append(Reason("node.state", f"{dst.name} is {visible(dst.cluster_state)} in the cluster"))
    for end, s in ((src, ours), (dst, settings)):
        if not s.migration_enabled:
            found.append(Reason("migration.disabled", f"live migration is disabled on {end.name}",
                                _finding(findings, ("migration.disabled",), (end.name,))))
        if s.max_migrations < 1:
            found.append(Reason("migration.limit", f"{end.name} allows no simultaneous live migration "
                                                   f"(MaximumVirtualMachineMigrations = {s.max_migrations})"))
    if ours.auth_type != settings.auth_type:
        found.append(Reason("auth.mismatch", f"{src.name} uses {ours.auth_type.value}, {dst.name} "
                                             f"{settings.auth_type.value}",
                            _finding(findings, ("auth.mismatch",), (src.name, dst.name))))
    elif ours.auth_type == AuthType.CREDSSP:
        found.append(Reason("auth.credssp", "CredSSP: a move started remotely fails (no credentials to delegate)",
                            _finding(findings, ("auth.credssp",), (src.name, dst.name))))
    elif ours.auth_type == AuthType.KERBEROS:
        status = pair(src, dst)
        if not status.ok:
            fix = next((f.id for f in findings if f.code == "delegation.missing" and (f.source, f.target)
                        == (src.name, dst.name)), None) or _finding(findings, ("delegation.kerberos_only",), (src.name,))
            found.append(Reason("delegation", f"{src.name} → {dst.name}: {status.summary}", fix))
    return found


def _share_blockers(vm: VirtualMachine, gaps: tuple[vm_storage.ShareGap, ...], end: str) -> list[Reason]:
    """Each file server of the VM this end of a move may not delegate to, with the finding that fixes it."""
    return [Reason("storage.smb", f"{visible(vm.name)}'s files are on {gap.server}'s shares and {gap.node} "
                                  f"({end}) lacks "
                                  + ", ".join([*gap.blocking, *(["protocol transition"] if gap.kerberos_only else [])]),
                       gap.finding)
            for gap in vm_storage.blocking_for(vm, gaps)]


def _vm_blockers(source: HostReport, dst: NodeSnapshot, destination: HostReport, vm: VirtualMachine,
                 preflight: Preflight, gaps: dict[str, tuple[vm_storage.ShareGap, ...]]) -> list[Reason]:
    """What stops this VM from going from the `source` host to dst (whose host reported `destination`): the file
    servers, then configuration version and processor (unless Compare-VM judged them), then the host's own
    pre-flight words."""
    found = _share_blockers(vm, gaps.get(dst.name, ()), "the destination")
    answer = preflight.get((vm.name, dst.name), HostAnswer())
    supported = destination.supported_versions
    if not answer.compared and vm.version and supported and vm.version not in supported:
        found.append(Reason("version", f"configuration version {visible(vm.version)} is not supported on "
                                       f"{dst.name} (supports {', '.join(visible(v) for v in supported)})"))
    if (not answer.compared and source.processor and destination.processor
            and source.processor != destination.processor and not vm.processor_compatibility):
        found.append(Reason("processor", f"processors differ ({visible(source.processor)} → "
                                         f"{visible(destination.processor)}) and processor compatibility mode is off"))
    for words in answer.words:
        said = f"{answer.command} {words.message_id}" if words.message_id is not None else answer.command
        found.append(Reason("preflight", f"{said}: {visible(words.message)}",
                            message_id=words.message_id))
    return found


def plan(snapshot: Snapshot, node: str, preflight: Preflight | None = None,
         findings: list[Finding] | None = None) -> DrainPlan:
    """Where each VM of `node` can go now, or why it cannot."""
    preflight = {} if preflight is None else preflight
    findings = diagnose(snapshot) if findings is None else findings
    src = snapshot.node(node.upper())
    if src is None:
        return DrainPlan(node=node.upper(), error=f"{node} is not a node of cluster {snapshot.cluster}")
    source = src.host
    if source is None or not source.reachable or source.settings is None:
        return DrainPlan(node=src.name, error=f"{src.name} did not answer: "
                                              f"{visible(source.error) if source and source.error else 'no host report'}")
    others = sorted((n for n in snapshot.nodes if n.name != src.name), key=lambda n: n.name)
    common = {d.name: _destination_blockers(snapshot, findings, src, source.settings, d) for d in others}
    gaps = vm_storage.gaps(snapshot)
    free: dict[str, int | None] = {d.name: d.host.memory_free if d.host else None for d in others}
    placements = []
    for vm in sorted(source.vms, key=lambda v: (-need(v), v.name)):
        blockers = [Blocker(vm.name, None, *r) for r in _share_blockers(vm, gaps.get(src.name, ()), "the source")]
        chosen = None
        for d in others if not blockers else ():
            # a destination without common blockers answered, so its host report is there
            reasons = common[d.name] or ([] if d.host is None else _vm_blockers(source, d, d.host, vm, preflight, gaps))
            room = free[d.name]
            if not common[d.name] and room is not None and room < need(vm):
                reasons = reasons + [Reason("memory", f"{d.name} has {_gib(room)} free (after the VMs placed before), "
                                            f"{vm.name} needs {_gib(need(vm))}")]
            if reasons:
                blockers += [Blocker(vm.name, d.name, *r) for r in reasons]
                continue
            chosen = d.name
            if room is not None:
                free[d.name] = room - need(vm)
            break
        if not others:
            blockers.append(Blocker(vm.name, None, "no.destination", "the cluster has no other node"))
        placements.append(Placement(vm=vm.name, memory=need(vm), clustered=vm.clustered, destination=chosen,
                                    blockers=tuple(blockers)))
    notes = (CLUSTER_NOTE,) if any(p.clustered for p in placements) else ()
    return DrainPlan(node=src.name, placements=tuple(placements), waves=_waves(src, snapshot, placements),
                     notes=notes)


def _waves(src: NodeSnapshot, snapshot: Snapshot, placements: Iterable[Placement]) -> int:
    """Rounds of moves: the source sends, each destination receives, at most its limit at a time."""
    placed = [p.destination for p in placements if p.destination]
    if not placed:
        return 0
    limits = {n.name: max(1, n.host.settings.max_migrations) for n in snapshot.nodes
              if n.host and n.host.settings}
    rounds = math.ceil(len(placed) / limits.get(src.name, 1))
    for d in set(placed):
        rounds = max(rounds, math.ceil(placed.count(d) / limits.get(d, 1)))
    return rounds


def plan_all(snapshot: Snapshot, preflight: Preflight | None = None) -> list[DrainPlan]:
    """A plan for every node, each on its own (draining one node at a time)."""
    findings = diagnose(snapshot)
    return [plan(snapshot, n.name, preflight, findings) for n in snapshot.nodes]


def describe(plan: DrainPlan) -> str:
    """The plan as lines of text for the CLI (values already made visible)."""
    if not plan.checked:
        return f"{plan.node}: could not check: {plan.error}"
    verdict = "can be drained" if plan.drainable else "CANNOT be drained"
    lines = [f"{plan.node} {verdict}: {sum(bool(p.destination) for p in plan.placements)} of "
             f"{len(plan.placements)} VM(s) placed" + (f", in {plan.waves} wave(s) of moves" if plan.waves else "")]
    for p in plan.placements:
        where = f"→ {p.destination}" if p.destination else "→ nowhere"
        lines.append(f"  {visible(p.vm):<16} {_gib(p.memory):>9}  {where}" + ("  (clustered)" if p.clustered else ""))
        for b in p.blockers:
            lines.append(f"      ✖ {b.destination or '-'}: {b.text}" + (f"  [fix: {b.finding}]" if b.finding else ""))
    return "\n".join(lines + list(plan.notes))
