"""The change-record report: findings, the journal's changes, CredSSP windows and test moves, as Markdown or JSON."""

from __future__ import annotations

import json
import re
from datetime import datetime

from lmdoctor.services.domain import events
from lmdoctor.services.domain.models import JournalEntry, MoveRecord
from lmdoctor.services.domain.safetext import json_safe, visible
from lmdoctor.services.domain.value_diff import diff
from lmdoctor.services.operations import credssp
from lmdoctor.services.operations.remediation import Remediator
from lmdoctor.services.storage import move_log as moves


def change_rows(entries: list[JournalEntry]) -> list[dict]:
    """One row per change: its latest journal line, with the values it added and removed."""
    latest: dict[str, JournalEntry] = {}
    for e in entries:
        latest[e.change_id] = e
    rows = []
    for e in sorted(latest.values(), key=lambda e: e.seq):
        change = diff(e.before, e.after)
        rows.append({
            "seq": e.seq, "time": e.time.isoformat(), "batch": e.batch, "change_id": e.change_id, "state": e.state,
            "description": e.action.description, "kind": e.action.kind, "target": e.action.target,
            "attribute": e.action.attribute, "reason": e.reason, "before": list(e.before), "after": list(e.after),
            "added": list(change.added), "removed": list(change.removed),
            "read_back": list(e.read_back) if e.read_back is not None else None, "error": e.error,
            "rollback_of": e.rollback_of, "expires": e.expires.isoformat() if e.expires else None,
            "powershell": e.action.powershell,
        })
    return rows


def build(remediator: Remediator, label: str, snapshot_doc: dict | None, now: datetime) -> dict:
    """The report document (the JSON format; Markdown renders the same content)."""
    entries = remediator.journal.entries()
    changes = change_rows(entries)
    history = moves.history(remediator.journal)
    tests = [{"time": m.time.isoformat(), "tour": m.tour, "reason": m.reason, **m.result.model_dump(mode="json")}
             for m in history]
    findings = (snapshot_doc or {}).get("findings", [])
    return {
        "generated_at": now.isoformat(),
        "target": label,
        "domain": (snapshot_doc or {}).get("domain"),
        "cluster": (snapshot_doc or {}).get("cluster"),
        "findings": findings,
        "changes": changes,
        "credssp_windows": [{"host": w.host, "expires": w.expires.isoformat(), "expired": w.expired(now),
                             "reason": w.entry.reason} for w in credssp.windows(remediator)],
        "verification": tests,
        "tours": tour_rows(history),
        "summary": {
            "errors": sum(f["severity"] == "error" for f in findings),
            "warnings": sum(f["severity"] == "warning" for f in findings),
            **{state: sum(c["state"] == state for c in changes)
               for state in ("applied", "reconciled", "failed", "in_doubt", "intent")},
            "rollbacks": sum(c["rollback_of"] is not None and c["state"] in ("applied", "reconciled") for c in changes),
            "moves_ok": sum(t["ok"] for t in tests),
            "moves_failed": sum(not t["ok"] for t in tests),
        },
    }


def tour_rows(history: list[MoveRecord]) -> list[dict]:
    """One entry per migration tour in the move log: its VM, reason and every hop in the order they ran."""
    tours: dict[str, dict] = {}
    for m in history:
        if m.tour is None:
            continue
        entry = tours.setdefault(m.tour, {"id": m.tour, "vm": m.result.vm, "reason": m.reason, "hops": []})
        r = m.result
        entry["hops"].append({"time": m.time.isoformat(), "source": r.source, "destination": r.destination,
                              "ok": r.ok, "pre_flight_only": r.what_if, "duration_s": round(r.duration_s, 3),
                              "blackout_ms": r.blackout_ms, "bytes_transferred": r.bytes_transferred,
                              "error": r.error})
    return list(tours.values())


# Markdown reads these characters as emphasis, links, images, inline HTML, entities or table cells; a backslash
# before an ASCII punctuation character makes it literal (CommonMark 0.31 §2.4 Backslash escapes,
# https://spec.commonmark.org/0.31.2/#backslash-escapes). "www." and "://" are broken up so GitHub's extended
# autolinks (https://github.github.com/gfm/#autolinks-extension-) do not turn a value into a link.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>&|~!{}])")
_AUTOLINK = re.compile(r"(?i)(www)\.|:(//)")


def _one_line(value: object) -> str:
    text = ", ".join(value) if isinstance(value, list) else "" if value is None else str(value)
    return text.replace("\n", " ").replace("\r", " ")


def _cell(value: object) -> str:
    """An outside value as literal Markdown text on one line (safe in a table cell); "—" when empty."""
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", _one_line(value))
    return _AUTOLINK.sub(lambda m: f"{m[1]}\\." if m[1] else "\\:" + m[2], text) or "—"


def _code(value: object) -> str:
    """An outside value as a code span whose fence is longer than any run of backticks inside it."""
    text = _one_line(value).replace("|", "\\|")  # GFM splits table cells before code spans
    if not text:
        return "—"
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text[0] == "`" or text[-1] == "`" or text.strip() == "" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def to_json(doc: dict) -> str:
    """The document as JSON; a control character in a value is a \\u escape, never the raw character."""
    return json_safe(json.dumps(doc, indent=2, ensure_ascii=False)) + "\n"


def to_markdown(doc: dict) -> str:
    s = doc["summary"]
    out = [f"# lmdoctor change record — {_cell(doc['target'])}", "",
           f"Generated {doc['generated_at']} · domain {_cell(doc['domain'])} · cluster {_cell(doc['cluster'])}", "",
           f"Findings: {s['errors']} error(s), {s['warnings']} warning(s). Changes: {s['applied']} applied, "
           f"{s['reconciled']} reconciled, {s['failed']} failed, {s['in_doubt'] + s['intent']} in doubt, "
           f"{s['rollbacks']} of them rollbacks. Test moves: {s['moves_ok']} OK, {s['moves_failed']} failed.", "",
           "## Findings", ""]
    if doc["findings"]:
        out += ["| Severity | Id | Message | Evidence |", "|---|---|---|---|"]
        out += [f"| {f['severity']} | {_code(f['id'])} | {_cell(f['message'])} | {_cell(list(f['evidence']))} |"
                for f in doc["findings"]]
    else:
        out.append("No findings." if doc["domain"] else "Not checked.")
    out += ["", "## Changes (from the journal)", ""]
    if doc["changes"]:
        out += ["| # | Time | State | Change | Target | Reason | Added | Removed | Read back |",
                "|---|---|---|---|---|---|---|---|---|"]
        for c in doc["changes"]:
            what = c["description"] + (f" (rollback of {c['rollback_of']})" if c["rollback_of"] else "") \
                + (f" — {c['error']}" if c["error"] else "")
            out.append(f"| {c['seq']} | {c['time']} | {c['state']} | {_cell(what)} | {_cell(c['target'])} | "
                       f"{_cell(c['reason'])} | {_cell(c['added'])} | {_cell(c['removed'])} | {_cell(c['read_back'])} |")
    else:
        out.append("No changes.")
    out += ["", "## CredSSP windows", ""]
    out += [f"- {_cell(w['host'])}: until {w['expires']}{' (EXPIRED)' if w['expired'] else ''} — {_cell(w['reason'])}"
            for w in doc["credssp_windows"]] or ["None open."]
    out += ["", "## Verification (test Move-VM)", ""]
    if doc["verification"]:
        out += ["| Time | VM | From | To | Pre-flight only | Reason | Result | Verified on destination | Error | "
                "Likely cause |", "|---|---|---|---|---|---|---|---|---|---|"]
        out += [f"| {t['time']} | {_cell(t['vm'])} | {_cell(t['source'])} | {_cell(t['destination'])} | {t['what_if']} | "
                f"{_cell(t['reason'])} | "
                f"{'OK' if t['ok'] else 'FAILED'} | {t['verified']} | {_cell(t['error'])} | "
                f"{_cell(events.describe(t['cause'])) if t['cause'] else ''} |" for t in doc["verification"]]
    else:
        out.append("No test moves recorded.")
    out += ["", "## Migration tours", ""]
    for t in doc["tours"]:
        out += [f"Tour {_code(t['id'])} of {_cell(t['vm'])} — reason: {_cell(t['reason'])}", "",
                "| Time | From | To | Result | Duration (s) | Blackout (ms) | Transferred (bytes) | Error |",
                "|---|---|---|---|---|---|---|---|"]
        out += [f"| {h['time']} | {_cell(h['source'])} | {_cell(h['destination'])} | "
                f"{'OK' if h['ok'] else 'FAILED (pre-flight)' if h['pre_flight_only'] else 'FAILED'} | "
                f"{h['duration_s']} | {_cell(h['blackout_ms'])} | {_cell(h['bytes_transferred'])} | {_cell(h['error'])} |"
                for h in t["hops"]]
        out.append("")
    if not doc["tours"]:
        out.append("No migration tours recorded.")
    return visible("\n".join(out) + "\n", multiline=True)  # a control character in a value is shown, not sent


def render(doc: dict, fmt: str) -> str:
    return to_json(doc) if fmt == "json" else to_markdown(doc)
