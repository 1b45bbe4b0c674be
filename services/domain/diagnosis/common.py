"""Helpers shared by diagnosis rules."""

from __future__ import annotations

from lmdoctor.services.domain.models import Finding, FixPlan, Severity


def finding(code: str, severity: Severity, message: str, cause: str, *, source: str | None = None,
            target: str | None = None, evidence: tuple[str, ...] | list[str] = (), fix: FixPlan | None = None,
            remedy: str | None = None) -> Finding:
    return Finding(id=f"{code}:{source or '-'}:{target or '-'}", code=code, severity=severity, source=source,
                   target=target, message=message, cause=cause, evidence=tuple(evidence), fix=fix, remedy=remedy)
