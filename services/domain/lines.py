"""Typed display lines: a service says what a line is — a check that holds or fails, a note, a value a
change adds or removes — and each front end decides how it looks (the console by colour and mark, the
CLI by indent). No front end reads a line's meaning back from its first character."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

LineKind = Literal[
    "ok",       # a check that holds
    "fail",     # a check that fails
    "warn",     # something to look at, not a failure
    "info",     # a plain statement
    "change",   # what a previewed change does
    "detail",   # a detail of a previewed change
    "add",      # a value the change adds
    "remove",   # a value the change removes
    "command",  # the equivalent PowerShell / ADUC step
]


@dataclass(frozen=True)
class Line:
    """One line of what a service found or previews: its kind, and its words (values are plain text)."""

    kind: LineKind
    text: str


def ok(text: str) -> Line:
    return Line("ok", text)


def fail(text: str) -> Line:
    return Line("fail", text)


def warn(text: str) -> Line:
    return Line("warn", text)


def info(text: str) -> Line:
    return Line("info", text)


def check(holds: bool, text: str) -> Line:
    """An ok line when the check holds, a fail line when not."""
    return Line("ok" if holds else "fail", text)
