"""What one source may delegate to on one destination, and how bad a gap is.

One pure model drives the findings, the matrix, the walkthrough, the report and the exit code:
`coverage()` reads a pair from the snapshot, `verdict()` says whether a move works, by which forms of
the destination's name it fails, and how severe that is.

Windows' rules (the KDC's S4U2Proxy decision):
- constrained delegation (KCD): the source's msDS-AllowedToDelegateTo must hold the exact SPN the move
  asks for — `cifs/HV02` and `cifs/HV02.contoso.local` are different SPNs, so a move addressed by the
  short name needs the short-name values and one addressed by the FQDN needs the FQDN values; a move
  started remotely also needs protocol transition (TRUSTED_TO_AUTH_FOR_DELEGATION);
- resource-based constrained delegation (RBCD): when the destination's
  msDS-AllowedToActOnBehalfOfOtherIdentity grants the source (its SID or a group it belongs to), a
  Windows Server 2012+ KDC grants every SPN of the destination's account, by either name, without
  protocol transition (a non-forwardable S4U2Self ticket is accepted);
- unconstrained delegation: works for every service (a risk, reported by its own rule);
- VMs on SMB shares: the hosts open the VM's files on \\\\server\\share for the operator, so the source
  (and the destination, which runs the VM and starts its next move) must delegate to cifs/<file server> by
  the name the paths use (lmdoctor.services.domain.vm_storage); a pair is judged with the gaps of both ends
  for every file server the cluster's VMs use.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from typing import Literal

from lmdoctor.services.domain.models import VSMS, ComputerAccount, NodeSnapshot, Severity
from lmdoctor.services.domain.spn import DELEGATION_SERVICES, delegation_targets, for_host
from lmdoctor.services.domain.spn import spn_key as _spn_key
from lmdoctor.services.domain.vm_storage import ShareGap

Coverage = Literal["ok", "partial", "missing"]
spn_key = lru_cache(maxsize=1 << 16)(_spn_key)  # a large grid compares the same few values thousands of times


def _token(account: ComputerAccount) -> set[str]:
    """The SIDs the KDC checks an RBCD descriptor against: the account's own and every group it belongs to."""
    return {sid for sid in (account.sid, *account.group_sids) if sid}


def rbcd_names(destination: ComputerAccount, source: ComputerAccount) -> bool:
    """Whether the destination's RBCD descriptor names the source (its SID or a group of it, allowed or denied);
    True when the source's SID is unknown, since then it cannot be ruled out."""
    if source.sid is None:
        return True
    named = destination.rbcd_principals + destination.rbcd_denied
    return bool(named) and not _token(source).isdisjoint(named)


def rbcd_grant(destination: ComputerAccount | None, source: ComputerAccount | None) -> str | None:
    """How the destination's RBCD descriptor grants the source ("its own SID" / "group <SID>"), or None.

    The KDC checks the descriptor against the source's token: its SID and every group it belongs to
    (nested, and its primary group). A deny ACE naming any of them wins over an allow ACE."""
    if destination is None or source is None or source.sid is None or not destination.rbcd_principals:
        return None
    token = _token(source)
    if token & set(destination.rbcd_denied):
        return None
    granted = [sid for sid in destination.rbcd_principals if sid in token]
    if not granted:
        return None
    return "its own SID" if source.sid in granted else f"group {granted[0]}"


@dataclass(frozen=True)
class PairCoverage:
    """What the directory says about one ordered pair (source → destination)."""

    source: str
    destination: str
    names: tuple[str, str]  # the destination's short name and FQDN
    missing: tuple[str, ...]  # the KCD values the source lacks, in delegation_targets order
    protocol_transition: bool
    unconstrained: bool
    rbcd: str | None = None  # how the destination's RBCD grants the source; None: it does not
    vsms: Coverage = "missing"
    cifs: Coverage = "missing"
    shares: tuple[ShareGap, ...] = ()  # what either end lacks for the file servers the cluster's VMs use

    @property
    def coverage(self) -> Coverage:
        """The four KCD values together: all there, some, or none."""
        if not self.missing:
            return "ok"
        return "missing" if len(self.missing) == 2 * len(DELEGATION_SERVICES) else "partial"

    @property
    def failing_names(self) -> tuple[str, ...]:
        """The forms of the destination's name by which a move lacks KCD values (RBCD/unconstrained aside)."""
        if self.rbcd or self.unconstrained or not self.missing:
            return ()
        lacking = {spn_key(v) for v in self.missing}
        return tuple(name for name in self.names
                     if any(spn_key(f"{service}/{name}") in lacking for service in DELEGATION_SERVICES))

    @property
    def ok(self) -> bool:
        """A remotely started move works by every name of the destination, for VMs on SMB shares too."""
        return not verdict(self).failing_names and not any(g.fails for g in self.shares)

    @property
    def needs_values(self) -> bool:
        """Constrained delegation is incomplete and nothing else covers the pair (even an unconstrained source
        gets the constrained values, to replace the risk)."""
        if self.rbcd:
            return False
        return bool(self.missing) or not self.protocol_transition

    @property
    def needs_fix(self) -> bool:
        """The source's delegation to the destination is incomplete, or an end lacks a file server's cifs."""
        return self.needs_values or bool(self.shares)

    @property
    def summary(self) -> str:
        return verdict(self).text

    @cached_property
    def judged(self) -> Verdict:
        """The pair's verdict, worked out once: the grid's marks and colours, its status line and the findings
        ask for it again and again (`verdict` says what it is)."""
        return _judge(self)


@dataclass(frozen=True)
class Verdict:
    severity: Severity | None  # None: a move works by either name
    failing_names: tuple[str, ...]  # the destination names a remotely started move fails by
    text: str


def verdict(c: PairCoverage) -> Verdict:
    """Whether a remotely started Move-VM source → destination works, by which names it fails, how severe.

    ERROR: it fails by every name (values missing for both, or Kerberos only), or an end lacks cifs/<file
    server> as a VM's paths name it or
    lacks protocol transition (a remote move reaches the file server by KCD, which needs it, even when RBCD covers
    the peers). WARNING: it fails by one form of the name only, it works through
    unconstrained delegation (a risk), or an end lacks only a form of a file server's name no path uses.
    None: it works."""
    return c.judged


def _judge(c: PairCoverage) -> Verdict:
    base = _names_verdict(c)
    if not c.shares:
        return base
    storage = Severity.ERROR if any(g.fails for g in c.shares) else Severity.WARNING
    severity = Severity.ERROR if Severity.ERROR in (base.severity, storage) else storage
    return Verdict(severity, base.failing_names, "; ".join([base.text, *(g.text() for g in c.shares)]))


def _names_verdict(c: PairCoverage) -> Verdict:
    """The verdict on the destination's own services (VSMS and cifs of the destination)."""
    if c.rbcd:
        return Verdict(None, (), f"via RBCD: {c.destination} grants {c.source} ({c.rbcd}); every name works")
    if c.unconstrained:
        return Verdict(Severity.WARNING, (), "unconstrained delegation (works, but a risk)")
    failing = c.failing_names
    if not c.protocol_transition:
        gap = f"{len(c.missing)} of 4 services missing; " if c.missing else ""
        return Verdict(Severity.ERROR, c.names, gap + "Kerberos only: remote moves fail by every name")
    if len(failing) == len(c.names):
        return Verdict(Severity.ERROR, failing, f"{len(c.missing)} of 4 services missing: moves fail by every name")
    if failing:
        works = next(n for n in c.names if n not in failing)
        return Verdict(Severity.WARNING, failing,
                       f"a move addressed as {failing[0]} fails; addressed as {works} it works")
    return Verdict(None, (), "cifs + VSMS, any protocol")


def values_verdict(c: PairCoverage) -> Verdict:
    """The verdict of the KCD values alone, as if protocol transition were set (that has its own finding)."""
    return verdict(replace(c, protocol_transition=True))


def _coverage(have: AbstractSet[str], values: tuple[str, str]) -> Coverage:
    found = sum(spn_key(v) in have for v in values)
    return "ok" if found == len(values) else "partial" if found else "missing"


def delegated(src: NodeSnapshot) -> AbstractSet[str]:
    """The comparison keys of the source's msDS-AllowedToDelegateTo values."""
    return _keys(src.account.allowed_to_delegate_to) if src.account else frozenset()


@lru_cache(maxsize=256)  # each rule and screen asks again for the same source's ~250 values
def _keys(values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(spn_key(v) for v in values)


def target_keys(dst: NodeSnapshot) -> frozenset[str]:
    """The comparison keys of the four KCD values a source needs for `dst`."""
    return needed_keys(dst.name, dst.fqdn)


def needed_keys(name: str, fqdn: str) -> frozenset[str]:
    """The comparison keys of the four KCD values a source needs for the node `name` (`fqdn`)."""
    return _keys(delegation_targets(name, fqdn))


def lacking(have: AbstractSet[str], dst: NodeSnapshot) -> tuple[str, ...]:
    """The KCD values for `dst` that `have` (comparison keys) lacks, in delegation_targets order."""
    return tuple(v for v in delegation_targets(dst.name, dst.fqdn) if spn_key(v) not in have)


def coverage(src: NodeSnapshot, dst: NodeSnapshot, have: AbstractSet[str] | None = None,
             shares: tuple[ShareGap, ...] = ()) -> PairCoverage:
    """The pair's coverage; `shares`: the SMB storage gaps of its two ends (vm_storage.gaps), if counted."""
    account = src.account
    have = delegated(src) if have is None else have
    complete = target_keys(dst) <= have  # the usual case, in one set test
    return PairCoverage(source=src.name, destination=dst.name, names=(dst.name, dst.fqdn),
                        missing=() if complete else lacking(have, dst),
                        protocol_transition=bool(account and account.protocol_transition),
                        unconstrained=bool(account and account.unconstrained),
                        rbcd=rbcd_grant(dst.account, account),
                        vsms="ok" if complete else _coverage(have, for_host(VSMS, dst.name, dst.fqdn)),
                        cifs="ok" if complete else _coverage(have, for_host("cifs", dst.name, dst.fqdn)),
                        shares=shares)
