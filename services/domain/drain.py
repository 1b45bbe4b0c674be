"""Drain readiness: can every VM of a node be moved away right now, and where to? Pure: snapshot + host facts
(+ the hosts' own pre-flight words) in, a plan out; no I/O.

A destination is a candidate for a VM when every check passes: the destination answers and is Up, live
migration is enabled on both ends with the same authentication type (Kerberos: a remote Move-VM under CredSSP
fails), the source may delegate to the destination (the matrix's pair status), the simultaneous-migration limit
is at least one on both ends, the VM's configuration version is among the destination's supported versions,
the processors match or the VM runs in processor compatibility mode, a VM on SMB shares may be opened by
both ends (each delegates to cifs/<file server> by the name the VM's paths use: lmdoctor.services.domain.
vm_storage), and the host's pre-flight reported no incompatibility. A source lacking a file server's cifs
blocks its VMs on that server from going anywhere. Placement is first-fit-decreasing by memory: the largest VM first, each to the first candidate
(by name) whose remaining free memory holds it; a running VM needs its assigned memory (its startup memory
when none is reported), a VM that is off needs none.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lmdoctor.services.domain import vm_storage
from lmdoctor.services.domain.diagnosis import diagnose
from lmdoctor.services.domain.matrix import pair
from lmdoctor.services.domain.models import AuthType, Finding, NodeSnapshot, Snapshot, VirtualMachine
from lmdoctor.services.domain.safetext import visible

Preflight = Mapping[tuple[str, str], tuple[str, ...]]  # (VM, destination) -> the host's incompatibility texts

CLUSTER_NOTE = ("Clustered VMs: this plan covers Move-VM between nodes. A cluster drain (Suspend-ClusterNode "
                "-Drain) picks its own destinations but needs the same authentication, memory and compatibility.")


@dataclass(frozen=True)
class Blocker:
    """Why one VM cannot go to one destination (or anywhere, when destination is None)."""

    vm: str
    destination: str | None
    code: str
    text: str
    finding: str | None = None  # the id of the finding (lmdoctor check) whose fix removes it


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


def _destination_blockers(snapshot: Snapshot, findings: list[Finding], src: NodeSnapshot,
                          dst: NodeSnapshot) -> list[tuple[str, str, str | None]]:
    """(code, text, finding id) for what stops any VM of src from going to dst."""
    found: list[tuple[str, str, str | None]] = []
    report, settings = dst.host, dst.host.settings if dst.host else None
    if report is None or not report.reachable or settings is None:
        why = visible(report.error) if report and report.error else "no host report"
        return [("host.unreachable", f"{dst.name} did not answer: {why}",
                 _finding(findings, ("host.unreachable",), (dst.name,)))]
    if dst.cluster_state != "Up":
        found.append(("node.state", f"{dst.name} is {visible(dst.cluster_state)} in the cluster", None))
    ours = src.host.settings
    for end, s in ((src, ours), (dst, settings)):
        if not s.migration_enabled:
            found.append(("migration.disabled", f"live migration is disabled on {end.name}",
                          _finding(findings, ("migration.disabled",), (end.name,))))
        if s.max_migrations < 1:
            found.append(("migration.limit", f"{end.name} allows no simultaneous live migration "
                                             f"(MaximumVirtualMachineMigrations = {s.max_migrations})", None))
    if ours.auth_type != settings.auth_type:
        found.append(("auth.mismatch", f"{src.name} uses {ours.auth_type.value}, {dst.name} "
                                       f"{settings.auth_type.value}",
                      _finding(findings, ("auth.mismatch",), (src.name, dst.name))))
    elif ours.auth_type == AuthType.CREDSSP:
        found.append(("auth.credssp", "CredSSP: a move started remotely fails (no credentials to delegate)",
                      _finding(findings, ("auth.credssp",), (src.name, dst.name))))
    elif ours.auth_type == AuthType.KERBEROS:
        status = pair(src, dst)
        if not status.ok:
            found.append(("delegation", f"{src.name} → {dst.name}: {status.summary}",
                          _finding(findings, ("delegation.missing", "delegation.kerberos_only"), (src.name,))))
    return found


def _share_blockers(vm: VirtualMachine, gaps: tuple[vm_storage.ShareGap, ...],
                    end: str) -> list[tuple[str, str, str | None]]:
    """(code, text, finding id) for each file server of the VM this end of a move may not delegate to."""
    return [("storage.smb", f"{visible(vm.name)}'s files are on {gap.server}'s shares and {gap.node} ({end}) lacks "
                            f"{', '.join(gap.blocking)}", gap.finding)
            for gap in vm_storage.blocking_for(vm, gaps)]


def _vm_blockers(src: NodeSnapshot, dst: NodeSnapshot, vm: VirtualMachine, preflight: Preflight,
                 gaps: dict[str, tuple[vm_storage.ShareGap, ...]]) -> list[tuple[str, str, str | None]]:
    found = _share_blockers(vm, gaps.get(dst.name, ()), "the destination")
    supported = dst.host.supported_versions
    if vm.version and supported and vm.version not in supported:
        found.append(("version", f"configuration version {visible(vm.version)} is not supported on {dst.name} "
                                 f"(supports {', '.join(visible(v) for v in supported)})", None))
    if (src.host.processor and dst.host.processor and src.host.processor != dst.host.processor
            and not vm.processor_compatibility):
        found.append(("processor", f"processors differ ({visible(src.host.processor)} → "
                                   f"{visible(dst.host.processor)}) and processor compatibility mode is off", None))
    for text in preflight.get((vm.name, dst.name), ()):
        found.append(("preflight", f"{dst.name}: {visible(text)}", None))
    return found


def plan(snapshot: Snapshot, node: str, preflight: Preflight | None = None,
         findings: list[Finding] | None = None) -> DrainPlan:
    """Where each VM of `node` can go now, or why it cannot."""
    preflight = preflight or {}
    findings = diagnose(snapshot) if findings is None else findings
    src = snapshot.node(node.upper())
    if src is None:
        return DrainPlan(node=node.upper(), error=f"{node} is not a node of cluster {snapshot.cluster}")
    if src.host is None or not src.host.reachable or src.host.settings is None:
        return DrainPlan(node=src.name, error=f"{src.name} did not answer: "
                                              f"{visible(src.host.error) if src.host and src.host.error else 'no host report'}")
    others = sorted((n for n in snapshot.nodes if n.name != src.name), key=lambda n: n.name)
    common = {d.name: _destination_blockers(snapshot, findings, src, d) for d in others}
    gaps = vm_storage.gaps(snapshot)
    free = {d.name: d.host.memory_free if d.host and d.host.memory_free is not None else None for d in others}
    placements = []
    for vm in sorted(src.host.vms, key=lambda v: (-need(v), v.name)):
        blockers = [Blocker(vm.name, None, code, text, fid)
                    for code, text, fid in _share_blockers(vm, gaps.get(src.name, ()), "the source")]
        chosen = None
        for d in others if not blockers else ():
            reasons = common[d.name] + ([] if common[d.name] else _vm_blockers(src, d, vm, preflight, gaps))
            if not reasons and free[d.name] is not None and free[d.name] < need(vm):
                reasons = [("memory", f"{d.name} has {_gib(free[d.name])} free (after the VMs placed before), "
                                      f"{vm.name} needs {_gib(need(vm))}", None)]
            if reasons:
                blockers += [Blocker(vm.name, d.name, code, text, fid) for code, text, fid in reasons]
                continue
            chosen = d.name
            if free[d.name] is not None:
                free[d.name] -= need(vm)
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
