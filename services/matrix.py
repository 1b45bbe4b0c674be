"""Source × destination delegation status for every ordered pair of cluster nodes, and fixes for sets of pairs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from services import fixes
from services.models import VSMS, Finding, FixPlan, NodeSnapshot, Severity, Snapshot
from services.moves import MoveRecord
from services.spn import DELEGATION_SERVICES, delegation_targets, for_host
from services.spn import spn_key as _spn_key

Coverage = Literal["ok", "partial", "missing"]
Pair = tuple[str, str]

# Events naming the destination of a migration attempt on the source host, and whether it succeeded.
MOVE_EVENTS = {20417: True, 21024: False, 21502: False, 21111: False}
spn_key = lru_cache(maxsize=1 << 16)(_spn_key)  # a large grid compares the same few values thousands of times
_DESTINATION = re.compile(r"(?:\bto|\bhost|destination host)\s+'([^']+)'", re.IGNORECASE)


@dataclass(frozen=True)
class PairStatus:
    source: str
    destination: str
    missing: tuple[str, ...]
    protocol_transition: bool
    unconstrained: bool
    vsms: Coverage = "missing"
    cifs: Coverage = "missing"

    @property
    def ok(self) -> bool:
        return self.unconstrained or (not self.missing and self.protocol_transition)

    @property
    def coverage(self) -> Coverage:
        """The four values together: all there, some, or none."""
        if not self.missing:
            return "ok"
        return "missing" if len(self.missing) == 2 * len(DELEGATION_SERVICES) else "partial"

    @property
    def summary(self) -> str:
        if self.unconstrained:
            return "unconstrained delegation (works, but a risk)"
        if self.missing:
            return f"{len(self.missing)} of 4 services missing"
        if not self.protocol_transition:
            return "Kerberos only: remote moves fail"
        return "cifs + VSMS, any protocol"

    @property
    def needs_fix(self) -> bool:
        """Constrained delegation is incomplete (even an unconstrained source gets the constrained values)."""
        return bool(self.missing) or not self.protocol_transition


def _coverage(have: set[str], values: tuple[str, str]) -> Coverage:
    found = sum(spn_key(v) in have for v in values)
    return "ok" if found == len(values) else "partial" if found else "missing"


def delegated(src: NodeSnapshot) -> set[str]:
    """The comparison keys of the source's msDS-AllowedToDelegateTo values."""
    return {spn_key(v) for v in src.account.allowed_to_delegate_to} if src.account else set()


def pair(src: NodeSnapshot, dst: NodeSnapshot, have: set[str] | None = None) -> PairStatus:
    account = src.account
    have = delegated(src) if have is None else have
    missing = tuple(v for v in delegation_targets(dst.name, dst.fqdn) if spn_key(v) not in have)
    return PairStatus(source=src.name, destination=dst.name, missing=missing,
                      protocol_transition=bool(account and account.protocol_transition),
                      unconstrained=bool(account and account.unconstrained),
                      vsms=_coverage(have, for_host(VSMS, dst.name, dst.fqdn)),
                      cifs=_coverage(have, for_host("cifs", dst.name, dst.fqdn)))


def matrix(snapshot: Snapshot) -> dict[Pair, PairStatus]:
    return statuses(snapshot, ((s.name, d.name) for s in snapshot.nodes for d in snapshot.nodes if s is not d))


def statuses(snapshot: Snapshot, pairs: Iterable[Pair]) -> dict[Pair, PairStatus]:
    """The status of just these pairs; each source's values are read once."""
    nodes = {n.name: n for n in snapshot.nodes}
    haves: dict[str, set[str]] = {}
    found: dict[Pair, PairStatus] = {}
    for s, d in pairs:
        if s in nodes and d in nodes and s != d:
            if s not in haves:
                haves[s] = delegated(nodes[s])
            found[(s, d)] = pair(nodes[s], nodes[d], haves[s])
    return found


def last_moves(snapshot: Snapshot, records: Iterable[MoveRecord] = ()) -> dict[Pair, bool]:
    """The newest outcome per (source, destination): lmdoctor's own test moves (the verification log) and the
    migrations the sources' VMMS/cluster events name, whichever is newer. Pre-flights (-WhatIf) do not count."""
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
        if not r.what_if:
            seen((r.source.upper(), r.destination.upper()), record.time, r.ok)
    return {key: ok for key, (_, ok) in newest.items()}


# --- the compact cell ---------------------------------------------------------------------------------
COVERAGE_GLYPH = {"ok": "●", "partial": "◐", "missing": "○"}
LEGEND = (
    ("1st", "VSMS delegation (short + FQDN): ● both  ◐ one  ○ none"),
    ("2nd", "cifs delegation (short + FQDN): ● both  ◐ one  ○ none"),
    ("3rd", "P protocol transition (any protocol)  k Kerberos only  U unconstrained"),
    ("4th", "last move (test moves and events): ✓ passed  ✗ failed  · unknown"),
)
LEGEND_SHORT = "● both ◐ one ○ none (short+FQDN) · P any protocol k Kerberos only U unconstrained · ✓ ✗ · moved/failed/unknown"


def glyph(status: PairStatus, last: bool | None) -> str:
    """Four characters: VSMS, cifs, protocol transition, last test move."""
    transition = "U" if status.unconstrained else "P" if status.protocol_transition else "k"
    move = "·" if last is None else "✓" if last else "✗"
    return COVERAGE_GLYPH[status.vsms] + COVERAGE_GLYPH[status.cifs] + transition + move


def tone(status: PairStatus) -> Literal["ok", "warning", "error"]:
    """How the cell is coloured: works and is clean, works with a caveat / partly there, or broken."""
    if status.unconstrained:
        return "warning"
    if status.ok:
        return "ok"
    return "warning" if status.coverage == "partial" else "error"


# --- evidence and fixes -------------------------------------------------------------------------------
def evidence(snapshot: Snapshot, status: PairStatus, last: bool | None = None) -> list[str]:
    """Plain-words evidence for one pair: what the source's object holds for the destination."""
    src, dst = snapshot.node(status.source), snapshot.node(status.destination)
    lines = [f"{status.source} → {status.destination}: {status.summary}"]
    if src is None or dst is None or src.account is None:
        return lines + [f"No computer object found for {status.source}"]
    have = {spn_key(v) for v in src.account.allowed_to_delegate_to}
    for value in delegation_targets(dst.name, dst.fqdn):
        lines.append(("✔ has " if spn_key(value) in have else "✖ lacks ") + value)
    lines.append(f"{src.name} userAccountControl = {src.account.uac_text}: "
                 + ("protocol transition (0x1000000) set" if status.protocol_transition
                    else "Kerberos only (0x1000000 not set)")
                 + ("; UNCONSTRAINED (0x80000)" if status.unconstrained else ""))
    reversed_values = [v for v in (dst.account.allowed_to_delegate_to if dst.account else ())
                       if spn_key(v) in {spn_key(t) for t in delegation_targets(dst.name, dst.fqdn)}]
    if reversed_values:
        lines.append(f"{dst.name}'s own object holds {len(reversed_values)} of these values (wrong object: "
                     "the SOURCE must hold them)")
    if last is not None:
        lines.append("last move in the events: " + ("passed" if last else "FAILED"))
    return lines


def fix_findings(snapshot: Snapshot, pairs: Iterable[Pair]) -> list[Finding]:
    """One fix per source for the chosen pairs: the missing values (one write) and protocol transition."""
    by_source: dict[str, list[PairStatus]] = {}
    for status in statuses(snapshot, pairs).values():
        if status.needs_fix:
            by_source.setdefault(status.source, []).append(status)
    found = []
    for source, chosen in by_source.items():
        account = snapshot.node(source).account
        if account is None:
            continue
        values = tuple(dict.fromkeys(v for s in chosen for v in s.missing))
        destinations = ", ".join(s.destination for s in chosen if s.missing)
        actions = (fixes.add_delegation(account, values, destinations),) if values else ()
        if not account.protocol_transition:
            actions += (fixes.enable_protocol_transition(account),)
        found.append(Finding(
            id=f"matrix:{source}:{','.join(s.destination for s in chosen)}", code="delegation.missing",
            severity=Severity.ERROR, source=source, target=chosen[0].destination if len(chosen) == 1 else None,
            message=f"{source} → {', '.join(s.destination for s in chosen)}: complete constrained delegation",
            cause="The source's computer object must be trusted to delegate, with any authentication protocol, "
                  "to each destination's cifs and Microsoft Virtual System Migration Service.",
            evidence=tuple(f"{s.source} → {s.destination}: {s.summary}" for s in chosen),
            fix=FixPlan(summary=f"Complete {source}'s delegation to {len(chosen)} destination(s)", actions=actions,
                        purge_hosts=(source,)),
        ))
    return found


def row(snapshot: Snapshot, source: str) -> list[Pair]:
    return [(source, n.name) for n in snapshot.nodes if n.name != source]


def column(snapshot: Snapshot, destination: str) -> list[Pair]:
    return [(n.name, destination) for n in snapshot.nodes if n.name != destination]


def every_pair(snapshot: Snapshot) -> list[Pair]:
    return list(matrix(snapshot))
