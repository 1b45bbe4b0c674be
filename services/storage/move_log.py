"""The verification log: every test Move-VM and its result, appended beside the change journal."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from lmdoctor.services.domain.models import MoveRecord, MoveResult
from lmdoctor.services.storage.journal import Journal, append_jsonl, read_jsonl


def log_path(journal: Journal) -> Path:
    return journal.path.with_name(journal.path.stem + ".moves.jsonl")


def record(journal: Journal, result: MoveResult, now: datetime | None = None, tour: str | None = None,
           reason: str | None = None) -> MoveRecord:
    """Append one test move (fsync'd, like the journal) with the operator's reason; a tour's hop names its tour."""
    entry = MoveRecord(time=now or datetime.now(timezone.utc), result=result, tour=tour, reason=reason)
    append_jsonl(log_path(journal), entry)
    return entry


def history(journal: Journal) -> list[MoveRecord]:
    return read_jsonl(log_path(journal), MoveRecord, "move record")
