"""The root of every lmdoctor error: a title for the console and the CLI's exit code."""

from __future__ import annotations

EXIT_CANNOT_RUN = 2  # could not run: bad input, unreachable, refused, a damaged file
EXIT_WRITE_FAILED = 1  # a write, rollback or move was attempted and failed


class LmdoctorError(Exception):
    """An error lmdoctor expects and can explain in one line; anything else is a defect."""

    title = "lmdoctor could not run"
    exit_code = EXIT_CANNOT_RUN
