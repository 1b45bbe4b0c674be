"""Diagnosis: pure functions from one Snapshot to findings, each with evidence, cause and fix."""

from __future__ import annotations

from lmdoctor.services.domain.diagnosis import (
    delegation,
    dns,
    hosts,
    kerberos,
    operator,
    spns,
    storage,
    values,
)
from lmdoctor.services.domain.models import Finding, Severity, Snapshot

RULES = (
    hosts.unreachable,
    hosts.migration_disabled,
    hosts.auth_types,
    operator.not_delegable,
    kerberos.clock_skew,
    kerberos.no_aes,
    delegation.missing,
    delegation.wrong_object,
    delegation.near_miss,
    delegation.kerberos_only,
    delegation.unconstrained,
    storage.smb_delegation,
    spns.missing,
    spns.duplicates,
    dns.stale,
    hosts.stale_tickets,
    values.bad_values,
)


def diagnose(snapshot: Snapshot) -> list[Finding]:
    findings = [f for rule in RULES for f in rule(snapshot)]
    return sorted(findings, key=lambda f: (f.severity.rank, f.code, f.source or "", f.target or ""))


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity == Severity.ERROR for f in findings)


def bulk_fixable(findings: list[Finding]) -> list[Finding]:
    """What "fix all" applies: every fix except cleanups (removing values), which are chosen one by one."""
    return [f for f in findings if f.fix and not f.fix.cleanup]
