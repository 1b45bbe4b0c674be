"""Append-only, fsync'd change journal (JSON lines): intent before a write, outcome after."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from services.models import ChangePreview, JournalEntry, JournalState


class JournalError(Exception):
    """The journal file is unreadable (truncated or edited); names the line."""


M = TypeVar("M", bound=BaseModel)


def read_jsonl(path: Path, model: type[M], what: str) -> list[M]:
    """Every line of a JSON-lines file as `model`; JournalError names the first bad line."""
    if not path.exists():
        return []
    result = []
    with path.open("rb") as f:  # decode per line: a torn write may split a UTF-8 character
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                result.append(model.model_validate(json.loads(raw.decode("utf-8"))))
            except (UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
                first = str(exc).splitlines()[0]
                raise JournalError(f"{path}: line {number} is not a valid {what} ({first})") from None
    return result


def append_jsonl(path: Path, item: BaseModel) -> None:
    """Append one line and fsync it before returning (private file, created 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (item.model_dump_json() + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _locked(path: Path, shared: bool = False) -> Iterator[None]:
    """Hold an advisory lock on the journal file (POSIX flock; elsewhere in-process only).

    Writers hold it exclusively while they number and append a line; readers share it, so no
    reader sees another process's line half written. A missing journal is not created by a reader."""
    try:
        import fcntl
    except ImportError:  # Windows: the in-process lock still serialises one process's threads
        yield
        return
    if shared and not path.exists():
        yield
        return
    if not shared:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDONLY if shared else os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def new_id() -> str:
    return uuid.uuid4().hex[:12]


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()

    def entries(self) -> list[JournalEntry]:
        with self._lock, _locked(self.path, shared=True):
            return read_jsonl(self.path, JournalEntry, "journal entry")

    def append(self, entry: JournalEntry) -> JournalEntry:
        with self._lock:
            append_jsonl(self.path, entry)
        return entry

    def record(self, *, batch: str, change_id: str, state: JournalState, preview: ChangePreview, reason: str,
               read_back: Iterable[str] | None = None, error: str | None = None,
               rollback_of: str | None = None, expires: datetime | None = None) -> JournalEntry:
        with self._lock, _locked(self.path):  # seq stays unique with several lmdoctor processes
            seq = len(read_jsonl(self.path, JournalEntry, "journal entry")) + 1  # (already locked)
            return self.append(JournalEntry(
                seq=seq, batch=batch, change_id=change_id, time=datetime.now(timezone.utc), state=state,
                action=preview.action, reason=reason, before=preview.before, after=preview.after,
                read_back=tuple(read_back) if read_back is not None else None, error=error, rollback_of=rollback_of,
                expires=expires))

    def latest_by_change(self) -> dict[str, JournalEntry]:
        """The last line of every change: its current state."""
        latest: dict[str, JournalEntry] = {}
        for e in self.entries():
            latest[e.change_id] = e
        return latest

    def in_doubt(self) -> list[JournalEntry]:
        """Changes whose outcome is unknown: an intent with no outcome line (the process died between
        the two) or an explicit in-doubt line (the connection broke and the object could not be read back)."""
        return [e for e in self.latest_by_change().values() if e.state in ("intent", "in_doubt")]
