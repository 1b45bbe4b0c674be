"""A test-only WinRM (WS-Management) + PowerShell Remoting endpoint.

pypsrp's real client talks to it over HTTP(S) on 127.0.0.1, so code that
drives Hyper-V hosts through pypsrp can be tested on the wire without Windows.

Each pipeline the client invokes is handed to a handler, which yields events::

    def handler(commands: list[Invocation]) -> Iterator[Event]:
        cmd = commands[0]  # one Invocation per command of the pipeline
        if cmd.name == "Get-VMHost":
            yield Output(PSObj(["Microsoft.HyperV.PowerShell.VMHost"], {"ComputerName": "HV1"}))
        elif cmd.name == "Move-VM":
            yield Progress(50, "Moving VM", "50% complete")
            if not cmd.parameters.get("WhatIf"):
                yield Output({"Name": cmd.parameters["Name"], "State": "Running"})
        else:
            yield Error(f"The term '{cmd.name}' is not recognized", "CommandNotFoundException",
                        category="ObjectNotFound", terminating=True)

    with PsrpEndpoint(handler) as ep:               # https, Basic auth, fresh CA
        with WSMan(**ep.wsman_kwargs()) as wsman, RunspacePool(wsman) as pool:
            ...
        ep.requests                                  # what went over the wire

The handler runs on a worker thread per pipeline and may sleep between
events; a ctrl_c Signal (``PowerShell.stop()``) closes its generator.
"""

from .endpoint import FAULTS, PsrpEndpoint
from .events import Error, Event, Handler, Invocation, Output, Progress, PSObj, Verbose, Warn
from .tls import TestPki, make_pki
from .transport import DROP_MID_RECEIVE, HANG, RequestRecord

__all__ = [
    "DROP_MID_RECEIVE",
    "Error",
    "Event",
    "FAULTS",
    "HANG",
    "Handler",
    "Invocation",
    "Output",
    "PSObj",
    "Progress",
    "PsrpEndpoint",
    "RequestRecord",
    "TestPki",
    "Verbose",
    "Warn",
    "make_pki",
]
