"""PSRP state of one WinRS shell (a runspace pool) and its pipelines.

Incoming fragments are decoded with psrpcore's ServerRunspacePool; outgoing
messages are fragmented by psrpcore and queued per target (the pool itself,
or one pipeline) until the client asks for them with a WSMan Receive.
"""

from __future__ import annotations

import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psrpcore
from psrpcore.types import PSInvocationState, PSRPMessageType, add_note_property

from .convert import error_record, to_ps, to_python
from .events import Error, Event, Handler, Invocation, Output, Progress, Verbose, Warn

FRAGMENT_SIZE = 32 * 1024  # max bytes per PSRP payload we queue
_FRAGMENT_HEADER = struct.Struct(">QQBI")  # object id, fragment id, start/end flags, length


class OperationTimeout(Exception):
    """No data before the WSMan OperationTimeout (the client polls again)."""


class ShellClosed(Exception):
    """The shell was deleted or the endpoint is shutting down."""


@dataclass
class Batch:
    """What one Receive returns: raw PSRP payloads and whether the command is done."""

    payloads: list[bytes]
    done: bool

    @property
    def message_types(self) -> list[str]:
        return [name for payload in self.payloads for name in message_types(payload)]


def message_types(payload: bytes) -> list[str]:
    """Names of the PSRP messages that start in a payload of fragments."""
    names, offset = [], 0
    while offset + _FRAGMENT_HEADER.size <= len(payload):
        _, _, flags, length = _FRAGMENT_HEADER.unpack_from(payload, offset)
        start = offset + _FRAGMENT_HEADER.size
        if flags & 0x1 and length >= 8:
            (value,) = struct.unpack_from("<I", payload, start + 4)
            names.append(_type_name(value))
        offset = start + length
    return names


def _type_name(value: int) -> str:
    try:
        return PSRPMessageType(value).name
    except ValueError:
        return hex(value)


class _RunspacePool(psrpcore.ServerRunspacePool):
    """psrpcore's server pool, tolerant of pypsrp's spelling of the call id.

    pypsrp names the property ``CI`` in SetMax/SetMinRunspaces; psrpcore
    looks up ``ci`` case-sensitively (PowerShell itself ignores case).
    """

    def _process_SetMaxRunspaces(self, event: psrpcore.SetMaxRunspacesEvent) -> None:
        _alias_call_id(event)
        super()._process_SetMaxRunspaces(event)

    def _process_SetMinRunspaces(self, event: psrpcore.SetMinRunspacesEvent) -> None:
        _alias_call_id(event)
        super()._process_SetMinRunspaces(event)


def _alias_call_id(event: psrpcore.PSRPEvent) -> None:
    message = event._ps_object
    names = {p.name for p in message.PSObject.extended_properties}
    if "ci" not in names and "CI" in names:
        add_note_property(message, "ci", message.CI)


class ShellSession:
    """One runspace pool: decodes client PSRP data and queues server replies."""

    def __init__(self, shell_id: str, resource_uri: str, handler: Handler) -> None:
        self.shell_id = shell_id
        self.resource_uri = resource_uri
        self._handler = handler
        self._pool = _RunspacePool()
        self._cond = threading.Condition(threading.RLock())
        self._queues: dict[uuid.UUID | None, deque[bytes]] = {None: deque()}
        self._runs: dict[uuid.UUID, PipelineRun] = {}
        self._closed = False

    # -- client -> server -------------------------------------------------

    def feed(self, data: bytes) -> list[str]:
        """Process PSRP fragments from Create/Command/Send; returns message type names."""
        names: list[str] = []
        with self._cond:
            self._check_open()
            self._pool.receive_data(psrpcore.PSRPPayload(data, psrpcore.StreamType.default, None))
            while (event := self._pool.next_event()) is not None:
                names.append(event.message_type.name)
                self._on_event(event)
            self._drain()
        return names

    def create_command(self, command_id: str, data: bytes) -> list[str]:
        """A WSMan Command: a new pipeline whose CreatePipeline starts in ``data``."""
        pid = uuid.UUID(command_id)
        with self._cond:
            self._check_open()
            self._queues[pid] = deque()
            psrpcore.ServerPipeline(self._pool, pid)
            return self.feed(data)

    def _on_event(self, event: psrpcore.PSRPEvent) -> None:
        if isinstance(event, psrpcore.CreatePipelineEvent):
            pipeline = self._pool.pipeline_table[event.pipeline_id]
            run = PipelineRun(pipeline, self._handler, self._cond, self._drain)
            self._runs[event.pipeline_id] = run
            run.start()
        elif isinstance(event, psrpcore.GetAvailableRunspacesEvent):
            self._pool.runspace_availability_response(event.ci, self._pool.max_runspaces)
        elif isinstance(
            event, (psrpcore.SetMaxRunspacesEvent, psrpcore.SetMinRunspacesEvent, psrpcore.ResetRunspaceStateEvent)
        ):
            self._pool.runspace_availability_response(event.ci, True)

    # -- server -> client -------------------------------------------------

    def receive(self, command_id: str | None, timeout: float, budget: int) -> Batch:
        """Wait up to ``timeout`` s for data of the pool or a pipeline."""
        key = uuid.UUID(command_id) if command_id else None
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                self._check_open()
                queue = self._queues.get(key)
                run = self._runs.get(key) if key else None
                if queue is None:
                    raise KeyError(command_id)
                if queue or (run is not None and run.finished):
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise OperationTimeout()
                self._cond.wait(remaining)

            payloads: list[bytes] = []
            size = 0
            while queue and (not payloads or size + len(queue[0]) <= budget):
                payloads.append(queue.popleft())
                size += len(payloads[-1])
            done = run is not None and run.finished and not queue
            return Batch(payloads, done)

    def _drain(self) -> None:
        """Move psrpcore's outgoing messages into the per-target queues (lock held)."""
        while (payload := self._pool.data_to_send(FRAGMENT_SIZE)) is not None:
            self._queues.setdefault(payload.pipeline_id, deque()).append(payload.data)
        self._cond.notify_all()

    # -- signals and teardown --------------------------------------------

    def stop(self, command_id: str) -> None:
        """powershell/signal/ctrl_c: stop a running pipeline."""
        run = self._runs.get(uuid.UUID(command_id))
        if run is not None:
            run.stop()

    def terminate(self, command_id: str) -> None:
        """Signal Terminate: stop if needed and forget the pipeline."""
        pid = uuid.UUID(command_id)
        with self._cond:
            run = self._runs.pop(pid, None)
            if run is not None:
                run.stop()
            pipeline = self._pool.pipeline_table.get(pid)
            if pipeline is not None:
                pipeline.close()
            self._queues.pop(pid, None)

    def close(self) -> None:
        """WSMan Delete (or endpoint shutdown): stop everything, wake waiters."""
        with self._cond:
            self._closed = True
            for run in self._runs.values():
                run.stop()
            self._cond.notify_all()

    def _check_open(self) -> None:
        if self._closed:
            raise ShellClosed(self.shell_id)


class PipelineRun:
    """Runs the handler for one pipeline on a worker thread."""

    def __init__(
        self,
        pipeline: psrpcore.ServerPipeline,
        handler: Handler,
        cond: threading.Condition,
        drain: Callable[[], None],
    ) -> None:
        self._pipeline = pipeline
        self._handler = handler
        self._cond = cond
        self._drain = drain
        self._stopping = False
        self.finished = False
        self.invocations = invocations(pipeline)
        self._thread = threading.Thread(
            target=self._run, name=f"psrp-pipeline-{pipeline.pipeline_id}", daemon=True
        )

    def start(self) -> None:
        with self._cond:
            self._pipeline.start()  # queues PipelineState Running; pypsrp accepts it
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            if self._pipeline.state == PSInvocationState.Running:
                self._pipeline.stop()
            self._finish()

    def _run(self) -> None:
        events: Iterator[Event] | None = None
        try:
            events = iter(self._handler(self.invocations))
            for event in events:
                with self._cond:
                    if self._stopping:
                        return
                    if self._apply(event):
                        return
            with self._cond:
                if self._pipeline.state == PSInvocationState.Running:
                    self._pipeline.complete()
                self._finish()
        except Exception as exc:  # a broken handler fails the pipeline, visibly
            with self._cond:
                if self._pipeline.state == PSInvocationState.Running:
                    failure = Error(f"{type(exc).__name__}: {exc}", "PsrpEndpointHandlerError", terminating=True)
                    self._fail(failure)
                self._finish()
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()

    def _apply(self, event: Event) -> bool:
        """Write one event to the pipeline (lock held); True when it ends the pipeline."""
        pipeline = self._pipeline
        if isinstance(event, Output):
            pipeline.write_output(to_ps(event.value))
        elif isinstance(event, Progress):
            pipeline.write_progress(
                activity=event.activity,
                activity_id=event.activity_id,
                status_description=event.status,
                current_operation=event.current_operation,
                percent_complete=event.percent,
                seconds_remaining=event.seconds_remaining,
                record_type=(
                    psrpcore.types.ProgressRecordType.Completed
                    if event.completed
                    else psrpcore.types.ProgressRecordType.Processing
                ),
            )
        elif isinstance(event, Error) and event.terminating:
            self._fail(event)
            self._finish()
            return True
        elif isinstance(event, Error):
            record = error_record(event)
            pipeline.write_error(
                exception=record.Exception,
                category_info=record.CategoryInfo,
                target_object=record.TargetObject,
                fully_qualified_error_id=record.FullyQualifiedErrorId,
            )
        elif isinstance(event, Warn):
            pipeline.write_warning(event.message)
        elif isinstance(event, Verbose):
            pipeline.write_verbose(event.message)
        else:
            raise TypeError(f"handler yielded {event!r}, not an event")
        self._drain()
        return False

    def _fail(self, error: Error) -> None:
        # psrpcore has no public "fail" for a server pipeline; this sends
        # PipelineState Failed with the error record, as PowerShell does.
        self._pipeline._change_state(PSInvocationState.Failed, error_record(error))

    def _finish(self) -> None:
        self.finished = True
        self._drain()


def invocations(pipeline: psrpcore.ServerPipeline) -> list[Invocation]:
    """The pipeline's commands as Invocations (positional vs named split)."""
    result = []
    for command in pipeline.metadata.commands if pipeline.metadata else []:
        parameters: dict[str, object] = {}
        arguments: list[object] = []
        for name, value in command.parameters:
            if name is None:
                arguments.append(to_python(value))
            else:
                parameters[str(name)] = True if value is None else to_python(value)
        result.append(Invocation(str(command.command_text), parameters, arguments, bool(command.is_script)))
    return result
