"""One place that turns an error into words: an expected error is its own message; an unexpected one is a
defect, logged with its traceback to a file in the data directory and reported as one line naming that file."""

from __future__ import annotations

import os
import traceback
from datetime import datetime, timezone
from pathlib import Path

from lmdoctor.services.domain.errors import EXIT_CANNOT_RUN, LmdoctorError
from lmdoctor.services.storage.paths import data_dir


def log_path() -> Path:
    return data_dir() / "errors.log"


def is_expected(exc: BaseException) -> bool:
    """An lmdoctor error, or the operating system refusing a file or a connection."""
    return isinstance(exc, LmdoctorError | OSError)


def exit_code(exc: BaseException) -> int:
    """The CLI's exit code for an error: the error's own, else 2 (could not run)."""
    return exc.exit_code if isinstance(exc, LmdoctorError) else EXIT_CANNOT_RUN


def log_unexpected(exc: BaseException) -> Path:
    """Append the traceback (frames and message, no local variables) to the error log, readable by the user only."""
    path = log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    text = f"--- {stamp}\n" + "".join(traceback.format_exception(exc))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.fchmod(fd, 0o600) if hasattr(os, "fchmod") else None
        os.write(fd, text.encode("utf-8", "backslashreplace"))
    finally:
        os.close(fd)
    return path


def describe(exc: BaseException) -> str:
    """The error in one line. An unexpected error is logged first; the line names it and the log file."""
    if is_expected(exc):
        return str(exc) or getattr(exc, "title", type(exc).__name__)
    try:
        where = f"the traceback is in {log_path_written(exc)}"
    except OSError as log_failure:
        where = f"the traceback could not be logged ({log_failure})"
    return f"unexpected error ({type(exc).__name__}), a defect in lmdoctor; {where}"


def log_path_written(exc: BaseException) -> Path:
    return log_unexpected(exc)
