"""The test Move-VM: pre-flight (-WhatIf), live move with streamed progress, verify on the destination."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from lmdoctor.services.backends.hosts.base import HostError, HostGateway, ProgressCallback
from lmdoctor.services.domain import events
from lmdoctor.services.domain.errors import LmdoctorError
from lmdoctor.services.domain.models import MoveResult

Step = Callable[[str], None]


@dataclass(frozen=True)
class MoveRequest:
    vm: str
    destination: str
    source: str | None = None  # found by asking every host when not given
    what_if_only: bool = False


class MigrationError(LmdoctorError):
    """The test move could not be attempted (VM not found, host unreachable)."""


def locate(hosts: HostGateway, vm: str, candidates: list[str]) -> str:
    for host in candidates:
        try:
            if hosts.get_vm(host, vm) is not None:
                return host
        except HostError:
            continue
    raise MigrationError(f"VM {vm!r} was not found on any of: {', '.join(candidates)}")


def resolved(hosts: HostGateway, request: MoveRequest, candidates: list[str]) -> MoveRequest:
    """The request with its source (found by asking every candidate when not given) and its hosts upper-case;
    MigrationError when the VM is on no candidate or already on the destination."""
    source = (request.source or locate(hosts, request.vm, candidates)).upper()
    destination = request.destination.upper()
    if source == destination:
        raise MigrationError(f"{request.vm} is already on {destination}")
    return replace(request, source=source, destination=destination)


def preview(request: MoveRequest) -> list[str]:
    """What a live test move does, step by step, for the operator to confirm (the request resolved first)."""
    where = request.source or "the node it is on"
    return [f"Test Move-VM of {request.vm}: a live migration from {where} to {request.destination}",
            f"  1. pre-flight: Move-VM -Name {request.vm} -ComputerName {where} "
            f"-DestinationHost {request.destination} -WhatIf",
            f"  2. live move:  Move-VM -Name {request.vm} -ComputerName {where} "
            f"-DestinationHost {request.destination}",
            f"  3. verify:     Get-VM -ComputerName {request.destination} -Name {request.vm}",
            f"A failed pre-flight stops before the live move; {request.vm} stays on {where} then."]


def run_test_move(hosts: HostGateway, request: MoveRequest, candidates: list[str],
                  progress: ProgressCallback | None = None, step: Step | None = None) -> MoveResult:
    """Pre-flight, then (unless what-if only) the live move, then Get-VM on the destination."""
    say = step or (lambda _m: None)
    destination = request.destination.upper()
    try:
        source = str(resolved(hosts, request, candidates).source)
        say(f"Pre-flight: Move-VM -Name {request.vm} -ComputerName {source} -DestinationHost {destination} -WhatIf")
        check = hosts.move_vm(request.vm, source, destination, what_if=True)
        if not check.ok or request.what_if_only:
            say("Pre-flight " + ("passed" if check.ok else f"failed: {check.error}"))
            return check
        say("Pre-flight passed; starting the live move")
        result = hosts.move_vm(request.vm, source, destination, what_if=False, progress=progress)
        if not result.ok:
            say(f"Move failed: {result.error}")
            return result
        say(f"Verifying: Get-VM -ComputerName {destination} -Name {request.vm}")
        found = hosts.get_vm(destination, request.vm)
    except HostError as exc:
        text = str(exc)
        return MoveResult(vm=request.vm, source=(request.source or "?").upper(), destination=destination,
                          what_if=request.what_if_only, ok=False, error=text, cause=events.classify(text))
    verified = found is not None
    say(f"{request.vm} is on {destination}" if verified else f"{request.vm} is NOT on {destination} after the move")
    return result.model_copy(update={"verified": verified, "ok": verified})
