"""What a command handler receives (Invocation) and what it yields (events)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Invocation:
    """One command of a pipeline, as the client sent it.

    ``parameters`` holds named parameters (a switch sent without a value is
    ``True``); ``arguments`` holds positional arguments in order. Values are
    plain Python: str, int, float, bool, datetime, bytes, list, dict.
    """

    name: str
    parameters: dict[str, Any] = field(default_factory=dict)
    arguments: list[Any] = field(default_factory=list)
    is_script: bool = False


@dataclass(frozen=True)
class PSObj:
    """A typed object, like a deserialised .NET object (e.g. a Hyper-V VM).

    ``adapted=True`` puts the properties in ``<Props>`` (pypsrp:
    ``obj.adapted_properties``), as PowerShell does for real .NET objects;
    ``adapted=False`` makes note properties (``obj.extended_properties``),
    as for a PSCustomObject. A plain dict yielded as output is sent as a
    PSCustomObject with note properties.
    """

    type_names: Sequence[str]
    properties: Mapping[str, Any]
    adapted: bool = True
    to_string: str | None = None


@dataclass(frozen=True)
class Output:
    """An object written to the output stream."""

    value: Any


@dataclass(frozen=True)
class Progress:
    """A progress record (Write-Progress)."""

    percent: int
    activity: str
    status: str
    activity_id: int = 0
    current_operation: str | None = None
    seconds_remaining: int = -1
    completed: bool = False


@dataclass(frozen=True)
class Error:
    """An error record.

    Non-terminating by default (like Write-Error): it reaches
    ``ps.streams.error`` and the pipeline still completes. ``terminating=True``
    ends the pipeline as Failed with this record, which pypsrp also puts in
    ``ps.streams.error`` and reports as ``ps.had_errors``.
    """

    message: str
    fully_qualified_error_id: str = "NativeCommandError"
    category: str | int = "NotSpecified"
    hresult: int | None = None
    exception_type: str = "System.Exception"
    target_object: Any = None
    terminating: bool = False


@dataclass(frozen=True)
class Warn:
    """A warning record (Write-Warning)."""

    message: str


@dataclass(frozen=True)
class Verbose:
    """A verbose record (Write-Verbose)."""

    message: str


Event = Output | Progress | Error | Warn | Verbose

#: Called once per pipeline with its commands; yields events as they happen.
#: It runs on a worker thread, so it may sleep between events.
Handler = Callable[[list[Invocation]], Iterable[Event]]
