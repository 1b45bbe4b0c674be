"""The root of every lmdoctor error: a title for the console and the CLI's exit code."""

from __future__ import annotations

from pydantic import ValidationError

EXIT_CANNOT_RUN = 2  # could not run: bad input, unreachable, refused, a damaged file
EXIT_WRITE_FAILED = 1  # a write, rollback or move was attempted and failed


class LmdoctorError(Exception):
    """An error lmdoctor expects and can explain in one line; anything else is a defect."""

    title = "lmdoctor could not run"
    exit_code = EXIT_CANNOT_RUN


def validation_problems(exc: ValidationError, document: str = "") -> list[str]:
    """Each thing wrong with a validated document in one line: its place (`document` when it is the whole
    document, nothing when that is empty), then what."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or document
        problems.append(f"{where + ': ' if where else ''}{error['msg']}")
    return problems
