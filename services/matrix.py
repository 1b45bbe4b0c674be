"""Source × destination delegation status for every ordered pair of cluster nodes."""

from __future__ import annotations

from dataclasses import dataclass

from services.models import NodeSnapshot, Snapshot
from services.spn import delegation_targets, spn_key


@dataclass(frozen=True)
class PairStatus:
    source: str
    destination: str
    missing: tuple[str, ...]
    protocol_transition: bool
    unconstrained: bool

    @property
    def ok(self) -> bool:
        return self.unconstrained or (not self.missing and self.protocol_transition)

    @property
    def summary(self) -> str:
        if self.unconstrained:
            return "unconstrained delegation (works, but a risk)"
        if self.missing:
            return f"{len(self.missing)} of 4 services missing"
        if not self.protocol_transition:
            return "Kerberos only: remote moves fail"
        return "cifs + VSMS, any protocol"


def pair(src: NodeSnapshot, dst: NodeSnapshot) -> PairStatus:
    account = src.account
    have = {spn_key(v) for v in account.allowed_to_delegate_to} if account else set()
    missing = tuple(v for v in delegation_targets(dst.name, dst.fqdn) if spn_key(v) not in have)
    return PairStatus(source=src.name, destination=dst.name, missing=missing,
                      protocol_transition=bool(account and account.protocol_transition),
                      unconstrained=bool(account and account.unconstrained))


def matrix(snapshot: Snapshot) -> dict[tuple[str, str], PairStatus]:
    return {(s.name, d.name): pair(s, d) for s in snapshot.nodes for d in snapshot.nodes if s is not d}
