"""Append-only, fsync'd change journal (JSON lines): intent before a write, outcome after."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from lmdoctor.services.domain.errors import LmdoctorError, validation_problems
from lmdoctor.services.domain.models import ChangePreview, JournalEntry, JournalState
from lmdoctor.services.storage.locks import file_lock


class JournalError(LmdoctorError):
    """The journal file is unreadable (truncated or edited); names the line."""


M = TypeVar("M", bound=BaseModel)

MAX_LINE = 1 << 20  # no line lmdoctor writes comes near 1 MiB
REPAIR = "repair the line or move the file aside (keep it: it is the audit trail)"


def _lines(path: Path, what: str) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of every non-blank line; a line over MAX_LINE is refused, never read whole."""
    with path.open("rb") as f:
        number = 0
        while raw := f.readline(MAX_LINE + 1):
            number += 1
            if len(raw) > MAX_LINE:
                raise JournalError(f"{path}: line {number} is longer than {MAX_LINE} bytes: not a {what}; {REPAIR}")
            if raw.strip():
                yield number, raw


def _numbered(path: Path, model: type[M], what: str) -> list[tuple[int, M]]:
    """Every line as `model`, validated strictly (no coercion: a seq of "1" or 1.0 is refused)."""
    if not path.exists():
        return []
    result = []
    for number, raw in _lines(path, what):  # decoded per line: a torn write may split a UTF-8 character
        try:
            result.append((number, model.model_validate_json(raw, strict=True)))
        except ValidationError as exc:
            raise JournalError(f"{path}: line {number} is not a valid {what} ({validation_problems(exc)[0]}); {REPAIR}") from None
    return result


def read_jsonl(path: Path, model: type[M], what: str) -> list[M]:
    """Every line of a JSON-lines file as `model`; JournalError names the first bad line."""
    return [item for _number, item in _numbered(path, model, what)]


def append_jsonl(path: Path, item: BaseModel) -> None:
    """Append one line and fsync it before returning (private file, created 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (item.model_dump_json() + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


# What may follow a change's last line. `applied`, `failed` and `reconciled` are final.
NEXT_STATES: dict[str, tuple[str, ...]] = {"intent": ("applied", "failed", "in_doubt", "reconciled"),
                                           "in_doubt": ("reconciled", "failed")}
# The fields every line of one change repeats from its intent.
SAME_AS_INTENT = ("batch", "action", "reason", "before", "after", "rollback_of", "expires")


class _Sequence:
    """Checks journal lines in order: the structure lmdoctor writes, so an edited line is refused."""

    def __init__(self) -> None:
        self.latest: dict[str, tuple[int, JournalEntry]] = {}  # change_id -> (line, its last entry)
        self.count = 0

    def problem(self, entry: JournalEntry) -> str | None:
        """Why `entry` cannot come next, or None (then it is taken in)."""
        if entry.seq != self.count + 1:
            return (f"has seq {entry.seq} where {self.count + 1} was expected "
                    "(a line was duplicated, removed, reordered or renumbered)")
        change = entry.change_id
        if entry.rollback_of is not None and entry.rollback_of not in self.latest:
            return f"undoes change {entry.rollback_of}, which no earlier line records"
        if change in self.latest:
            line, prior = self.latest[change]
            if entry.state not in NEXT_STATES.get(prior.state, ()):
                return (f"records change {change} as '{entry.state}' after '{prior.state}' on line {line}, "
                        "which lmdoctor never writes")
            differs = [name for name in SAME_AS_INTENT if getattr(entry, name) != getattr(prior, name)]
            if differs:
                return f"changes the {', '.join(differs)} of change {change} recorded on line {line}"
        elif entry.state != "intent" and not (entry.state == "reconciled" and entry.rollback_of is not None):
            # (a rollback found already in place is closed with one `reconciled` line: nothing was written)
            return f"records an outcome ('{entry.state}') of change {change}, which has no intent line"
        return None

    def take(self, line: int, entry: JournalEntry) -> None:
        self.count += 1
        self.latest[entry.change_id] = (line, entry)


def verified(path: Path, numbered: list[tuple[int, JournalEntry]]) -> tuple[list[JournalEntry], _Sequence]:
    """The entries, after checking every line against the structure lmdoctor writes."""
    sequence = _Sequence()
    for line, entry in numbered:
        problem = sequence.problem(entry)
        if problem:
            raise JournalError(f"{path}: line {line} {problem}; the journal cannot be trusted: {REPAIR}")
        sequence.take(line, entry)
    return [entry for _line, entry in numbered], sequence


def new_id() -> str:
    return uuid.uuid4().hex[:12]


class Journal:
    """One journal file. Appends are numbered under an exclusive file lock and reads share it, so
    no process reads another's half-written line; `writing()` serialises whole changes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_suffix(".lock")  # held by writers across a whole change
        self._lock = threading.RLock()  # this process's appends and reads
        self._writer = threading.RLock()  # this process's writers
        self._writing = False

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Be the only writer of this journal — in this process and every other lmdoctor process —
        while a change is read, journaled, written and read back. Re-entrant in one thread."""
        with self._writer:
            if self._writing:
                yield
                return
            with file_lock(self.lock_path):
                self._writing = True
                try:
                    yield
                finally:
                    self._writing = False

    def _verified(self) -> tuple[list[JournalEntry], _Sequence]:
        return verified(self.path, _numbered(self.path, JournalEntry, "journal entry"))

    def entries(self) -> list[JournalEntry]:
        """Every entry, after checking the whole file (JournalError names the first untrusted line)."""
        with self._lock, file_lock(self.path, shared=True):
            return self._verified()[0]

    def record(self, *, batch: str, change_id: str, state: JournalState, preview: ChangePreview, reason: str,
               read_back: Iterable[str] | None = None, error: str | None = None,
               rollback_of: str | None = None, expires: datetime | None = None) -> JournalEntry:
        """Append the next line; refused (JournalError) if the journal or the line breaks the structure."""
        with self._lock, file_lock(self.path):  # seq stays unique with several lmdoctor processes
            entries, sequence = self._verified()
            entry = JournalEntry(
                seq=len(entries) + 1, batch=batch, change_id=change_id, time=datetime.now(timezone.utc), state=state,
                action=preview.action, reason=reason, before=preview.before, after=preview.after,
                read_back=tuple(read_back) if read_back is not None else None, error=error, rollback_of=rollback_of,
                expires=expires)
            problem = sequence.problem(entry)
            if problem:
                raise JournalError(f"{self.path}: not journaling change {change_id} as '{state}': the new line {problem}")
            append_jsonl(self.path, entry)
            return entry

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
