"""Summaries of a snapshot and its findings, shared by the CLI (JSON) and the console."""

from __future__ import annotations

from lmdoctor.services.domain import events, matrix
from lmdoctor.services.domain.coverage import verdict
from lmdoctor.services.domain.models import Finding, HostEvent, NodeSnapshot, Snapshot


def node_health(node: str, findings: list[Finding]) -> str:
    """'error', 'warning' or 'ok': the worst finding naming this node as source or target."""
    mine = [f for f in findings if node in (f.source, f.target)]
    if not mine:
        return "ok"
    return min((f.severity for f in mine), key=lambda s: s.rank).value


def node_row(node: NodeSnapshot, findings: list[Finding]) -> dict:
    host, settings = node.host, node.host.settings if node.host else None
    return {
        "name": node.name,
        "fqdn": node.fqdn,
        "state": node.cluster_state,
        "reachable": bool(host and host.reachable),
        "migration_enabled": settings.migration_enabled if settings else None,
        "auth_type": settings.auth_type.value if settings else None,
        "performance_option": settings.performance_option.value if settings else None,
        "max_migrations": settings.max_migrations if settings else None,
        "vms": [vm.name for vm in host.vms] if host else [],
        "protocol_transition": node.account.protocol_transition if node.account else None,
        "unconstrained": node.account.unconstrained if node.account else None,
        "clock_offset_s": host.clock_offset_s if host else None,  # against this machine's clock
        "enctypes": node.account.enctypes if node.account else None,
        "health": node_health(node.name, findings),
    }


def event_rows(node: NodeSnapshot) -> list[dict]:
    """The node's error and warning events, newest first, each with its classification and what it means."""
    reported: tuple[HostEvent, ...] = node.host.events if node.host else ()
    return [{"time": e.time.isoformat(), "id": e.event_id, "level": e.level, "log": e.log, "cause": e.cause,
             "likely_cause": events.describe(e.cause) if e.cause else None, "message": e.message}
            for e in reported if e.level.lower() in events.FAILURE_LEVELS]


def matrix_rows(snapshot: Snapshot) -> list[dict]:
    """The delegation matrix's pairs on which a move fails or carries a risk, with the pair's verdict (the
    severity the findings and the exit code use); a pair not listed works by either name."""
    rows = []
    for (source, destination), status in matrix.matrix(snapshot).items():
        judged = verdict(status)
        if judged.severity is None:
            continue
        rows.append({"source": source, "destination": destination, "severity": judged.severity.value,
                     "verdict": judged.text, "failing_names": list(judged.failing_names),
                     "missing": list(status.missing), "via_rbcd": status.rbcd is not None,
                     "storage": [{"node": g.node, "file_server": g.server, "lacking": list(g.lacking),
                                  "blocking": g.fails, "finding": g.finding} for g in status.shares]})
    return rows


def check_document(snapshot: Snapshot, findings: list[Finding]) -> dict:
    """The `lmdoctor check --json` document (a stable contract)."""
    return {
        "domain": snapshot.domain,
        "cluster": snapshot.cluster,
        "taken_at": snapshot.taken_at.isoformat(),
        "dc_clock_offset_s": snapshot.dc_clock_offset_s,
        "operator": snapshot.operator.model_dump(mode="json") if snapshot.operator else None,
        "nodes": [node_row(n, findings) | {"events": event_rows(n)} for n in snapshot.nodes],
        "findings": [
            {"id": f.id, "code": f.code, "severity": f.severity.value, "source": f.source, "target": f.target,
             "message": f.message, "cause": f.cause, "evidence": list(f.evidence), "remedy": f.remedy,
             "fix": f.fix.model_dump(mode="json") if f.fix else None}
            for f in findings
        ],
        "matrix": matrix_rows(snapshot),
    }
