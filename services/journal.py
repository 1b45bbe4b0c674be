"""Append-only, fsync'd change journal (JSON lines): intent before a write, outcome after."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError

from services.models import ChangePreview, JournalEntry, JournalState


class JournalError(Exception):
    """The journal file is unreadable (truncated or edited); names the line."""


def new_id() -> str:
    return uuid.uuid4().hex[:12]


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def entries(self) -> list[JournalEntry]:
        if not self.path.exists():
            return []
        result = []
        with self.path.open("rb") as f:  # decode per line: a torn write may split a UTF-8 character
            for number, raw in enumerate(f, start=1):
                if not raw.strip():
                    continue
                try:
                    result.append(JournalEntry.model_validate(json.loads(raw.decode("utf-8"))))
                except (UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
                    first = str(exc).splitlines()[0]
                    raise JournalError(f"{self.path}: line {number} is not a valid journal entry ({first})") from None
        return result

    def append(self, entry: JournalEntry) -> JournalEntry:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = entry.model_dump_json() + "\n"
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
        return entry

    def record(self, *, batch: str, change_id: str, state: JournalState, preview: ChangePreview, reason: str,
               read_back: Iterable[str] | None = None, error: str | None = None,
               rollback_of: str | None = None) -> JournalEntry:
        seq = len(self.entries()) + 1
        return self.append(JournalEntry(
            seq=seq, batch=batch, change_id=change_id, time=datetime.now(timezone.utc), state=state,
            action=preview.action, reason=reason, before=preview.before, after=preview.after,
            read_back=tuple(read_back) if read_back is not None else None, error=error, rollback_of=rollback_of))

    def latest_by_change(self) -> dict[str, JournalEntry]:
        """The last line of every change: its current state."""
        latest: dict[str, JournalEntry] = {}
        for e in self.entries():
            latest[e.change_id] = e
        return latest

    def in_doubt(self) -> list[JournalEntry]:
        """Intents with no outcome: the process or the server died between the two lines."""
        return [e for e in self.latest_by_change().values() if e.state == "intent"]
