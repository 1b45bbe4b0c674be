"""Source × destination delegation status for every ordered pair of cluster nodes, and fixes for sets of pairs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import replace
from datetime import datetime
from typing import Literal

from lmdoctor.services.domain import fixes, vm_storage
from lmdoctor.services.domain.coverage import PairCoverage, coverage, delegated, spn_key, verdict
from lmdoctor.services.domain.lines import Line, check, fail, info, ok
from lmdoctor.services.domain.models import Finding, FixAction, FixPlan, MoveRecord, NodeSnapshot, Severity, Snapshot
from lmdoctor.services.domain.spn import delegation_targets

Pair = tuple[str, str]
PairStatus = PairCoverage  # the matrix cell is the pair's coverage

# Events naming the destination of a migration attempt on the source host, and whether it succeeded.
MOVE_EVENTS = {20417: True, 21024: False, 21502: False, 21111: False}
_DESTINATION = re.compile(r"(?:\bto|\bhost|destination host)\s+'([^']+)'", re.IGNORECASE)


def pair(src: NodeSnapshot, dst: NodeSnapshot, have: AbstractSet[str] | None = None,
         gaps: dict[str, tuple[vm_storage.ShareGap, ...]] | None = None) -> PairStatus:
    """One cell; `gaps` (vm_storage.gaps of the snapshot) adds the SMB storage needs of both ends."""
    shares = (*gaps.get(src.name, ()), *gaps.get(dst.name, ())) if gaps else ()
    return coverage(src, dst, have, shares)


_last_grid: list[tuple[Snapshot, dict[Pair, PairStatus]]] = []


def matrix(snapshot: Snapshot) -> dict[Pair, PairStatus]:
    """Every ordered pair's status. A snapshot never changes, so the last one's grid is kept: the summary, the
    walkthrough and the matrix screen ask again for the same inventory's 4 032 pairs (at 64 nodes)."""
    last = _last_grid[0] if _last_grid else None  # read once: a worker thread may replace it meanwhile
    if last is None or last[0] is not snapshot:
        last = (snapshot, statuses(snapshot, ((s.name, d.name) for s in snapshot.nodes for d in snapshot.nodes
                                              if s is not d)))
        _last_grid[:] = [last]
    return dict(last[1])


def statuses(snapshot: Snapshot, pairs: Iterable[Pair]) -> dict[Pair, PairStatus]:
    """The status of just these pairs; each source's values are read once, the SMB storage gaps once per grid."""
    nodes = {n.name: n for n in snapshot.nodes}
    gaps = vm_storage.gaps(snapshot)
    haves: dict[str, AbstractSet[str]] = {}
    found: dict[Pair, PairStatus] = {}
    for s, d in pairs:
        if s in nodes and d in nodes and s != d:
            if s not in haves:
                haves[s] = delegated(nodes[s])
            found[(s, d)] = pair(nodes[s], nodes[d], haves[s], gaps)
    return found


def last_moves(snapshot: Snapshot, records: Iterable[MoveRecord] = ()) -> dict[Pair, bool]:
    """The newest outcome per (source, destination): lmdoctor's own test moves (the verification log) and the
    migrations the sources' VMMS/cluster events name, whichever is newer. A pre-flight (-WhatIf) counts only as a
    tour's hop (the hop failed there); a pre-flight on its own does not."""
    names = {n.name for n in snapshot.nodes}
    newest: dict[Pair, tuple[datetime, bool]] = {}

    def seen(key: Pair, when: datetime, ok: bool) -> None:
        if key[0] in names and key[1] in names and key[0] != key[1] and (key not in newest or when > newest[key][0]):
            newest[key] = (when, ok)

    for node in snapshot.nodes:
        if node.host is None or not node.host.reachable:
            continue
        for event in node.host.events:
            if event.event_id in MOVE_EVENTS:
                match = next((m for m in _DESTINATION.finditer(event.message)
                              if m.group(1).split(".")[0].upper() != node.name), None)
                if match:
                    seen((node.name, match.group(1).split(".")[0].upper()), event.time, MOVE_EVENTS[event.event_id])
    for record in records:
        r = record.result
        if not r.what_if or record.tour is not None:
            seen((r.source.upper(), r.destination.upper()), record.time, r.ok)
    return {key: ok for key, (_, ok) in newest.items()}


# --- the compact cell ---------------------------------------------------------------------------------
COVERAGE_GLYPH = {"ok": "●", "partial": "◐", "missing": "○"}
LEGEND_SHORT = ("● both ◐ one ○ none (short+FQDN) · P any protocol k Kerberos only U unconstrained R RBCD · ✓ ✗ · "
                "moved/failed/unknown")


def glyph(status: PairStatus, last: bool | None) -> str:
    """Four characters: VSMS, cifs, how the source may delegate, last test move. RBCD covers every SPN."""
    move = "·" if last is None else "✓" if last else "✗"
    if status.rbcd:
        return COVERAGE_GLYPH["ok"] * 2 + "R" + move
    transition = "U" if status.unconstrained else "P" if status.protocol_transition else "k"
    return COVERAGE_GLYPH[status.vsms] + COVERAGE_GLYPH[status.cifs] + transition + move


TONES: dict[Severity | None, Literal["ok", "warning", "error"]] = {
    None: "ok", Severity.INFO: "ok", Severity.WARNING: "warning", Severity.ERROR: "error"}


def tone(status: PairStatus) -> Literal["ok", "warning", "error"]:
    """How the cell is coloured: the pair's verdict (the severity the findings and the exit code use)."""
    return TONES[verdict(status).severity]


# --- evidence and fixes -------------------------------------------------------------------------------
def evidence(snapshot: Snapshot, status: PairStatus, last: bool | None = None) -> list[Line]:
    """Plain-words evidence for one pair: what the source's object holds for the destination, and what either
    end lacks for the file servers the cluster's VMs use. The first line is the pair and its summary; each line
    after it is a check that holds (ok), fails (fail) or warns (warn), or a statement (info)."""
    src, dst = snapshot.node(status.source), snapshot.node(status.destination)
    lines = [info(f"{status.source} → {status.destination}: {status.summary}")]
    if src is None or dst is None or src.account is None:
        return lines + [info(f"No computer object found for {status.source}")]
    if status.rbcd:
        lines.append(ok(f"via RBCD: {dst.name}'s msDS-AllowedToActOnBehalfOfOtherIdentity grants {src.name} "
                        f"({status.rbcd}): every SPN of {dst.name}, by either name, without protocol transition"))
    have = {spn_key(v) for v in src.account.allowed_to_delegate_to}
    for value in delegation_targets(dst.name, dst.fqdn):
        held = spn_key(value) in have
        lines.append(check(held, ("has " if held else "lacks ") + value))
    lines += [fail(f"a move addressed as {name} fails: {src.name} lacks the values that name it")
              for name in status.failing_names if 0 < len(status.failing_names) < len(status.names)]
    lines.append(info(f"{src.name} userAccountControl = {src.account.uac_text}: "
                      + ("protocol transition (0x1000000) set" if status.protocol_transition
                         else "Kerberos only (0x1000000 not set)" + (": not needed with RBCD" if status.rbcd else ""))
                      + ("; UNCONSTRAINED (0x80000)" if status.unconstrained else "")))
    reversed_values = [v for v in (dst.account.allowed_to_delegate_to if dst.account else ())
                       if spn_key(v) in {spn_key(t) for t in delegation_targets(dst.name, dst.fqdn)}]
    if reversed_values:
        lines.append(info(f"{dst.name}'s own object holds {len(reversed_values)} of these values (wrong object: "
                          "the SOURCE must hold them)"))
    lines += [Line("fail" if g.fails else "warn", f"{g.text()}  [fix: {g.finding}]") for g in status.shares]
    servers = sorted({s.split(".")[0].upper() for s in vm_storage.cluster_servers(snapshot)}
                     - {g.server for g in status.shares})
    if servers:
        lines.append(ok(f"VMs on SMB shares: {src.name} and {dst.name} may delegate to the cifs of "
                        f"{', '.join(servers)}"))
    if last is not None:
        lines.append(info("last move in the events: " + ("passed" if last else "FAILED")))
    return lines


def fix_findings(snapshot: Snapshot, pairs: Iterable[Pair]) -> list[Finding]:
    """One fix per node for the chosen pairs: the missing values (one write, with the file servers' cifs either
    end lacks) and protocol transition."""
    by_source: dict[str, list[PairStatus]] = {}
    shares: dict[str, dict[str, list[str]]] = {}  # node -> file server -> the cifs values it lacks
    blocking: set[str] = set()  # nodes whose lacking cifs values (or protocol transition) stop moves
    transition: dict[str, dict[str, None]] = {}  # node -> the file servers it lacks protocol transition for
    for status in statuses(snapshot, pairs).values():
        if status.needs_values:
            by_source.setdefault(status.source, []).append(status)
        for gap in status.shares:
            if gap.lacking:
                shares.setdefault(gap.node, {})[gap.server] = list(gap.lacking)
            if gap.fails:
                blocking.add(gap.node)
            if gap.kerberos_only:
                transition.setdefault(gap.node, {})[gap.server] = None
    found = []
    for node in dict.fromkeys([*by_source, *shares, *transition]):
        held = snapshot.node(node)
        account = held.account if held else None
        if account is None:
            continue
        chosen = by_source.get(node, [])
        cifs = shares.get(node, {})
        values = tuple(dict.fromkeys([*(v for s in chosen for v in s.missing), *(v for vs in cifs.values() for v in vs)]))
        destinations = ", ".join([*(s.destination for s in chosen if s.missing), *cifs])
        actions: tuple[FixAction, ...] = (fixes.add_delegation(account, values, destinations),) if values else ()
        if (chosen or node in transition) and not account.protocol_transition:
            actions += (fixes.enable_protocol_transition(account),)
        servers = transition.get(node, {})
        targets = [*(s.destination for s in chosen), *dict.fromkeys([*cifs, *servers])]
        failing = node in blocking or any(_names_severity(s) == Severity.ERROR for s in chosen)
        found.append(Finding(
            id=f"matrix:{node}:{','.join(targets)}", code="delegation.missing",
            severity=Severity.ERROR if failing else Severity.WARNING,
            source=node, target=targets[0] if len(targets) == 1 else None,
            message=f"{node} → {', '.join(targets)}: complete constrained delegation",
            cause="The source's computer object must be trusted to delegate, with any authentication protocol, "
                  "to each destination's cifs and Microsoft Virtual System Migration Service"
                  + (", and every node to the cifs of the file servers holding VMs." if cifs or servers else "."),
            evidence=tuple(f"{s.source} → {s.destination}: {s.summary}" for s in chosen)
            + tuple(f"{node} lacks {', '.join(vs)} (VMs on {server}'s shares)" for server, vs in cifs.items())
            + tuple(f"{node} lacks protocol transition (0x1000000) for the KCD to {server}'s cifs (VMs on its shares)"
                    for server in servers if not account.protocol_transition),
            fix=FixPlan(summary=f"Complete {node}'s delegation to {len(targets)} destination(s)", actions=actions,
                        purge_hosts=(node,)),
        ))
    return found


def _names_severity(status: PairStatus) -> Severity | None:
    """The verdict on the source's values for the destination, without the file servers (fixed per node)."""
    return verdict(replace(status, shares=())).severity


def row(snapshot: Snapshot, source: str) -> list[Pair]:
    return [(source, n.name) for n in snapshot.nodes if n.name != source]


def column(snapshot: Snapshot, destination: str) -> list[Pair]:
    return [(n.name, destination) for n in snapshot.nodes if n.name != destination]


def every_pair(snapshot: Snapshot) -> list[Pair]:
    return list(matrix(snapshot))
