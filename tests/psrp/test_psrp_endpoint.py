"""pypsrp's real client against the loopback WSMan/PSRP test endpoint."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from pypsrp.exceptions import AuthenticationError, WinRMTransportError, WSManFaultError
from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool
from pypsrp.wsman import WSMan

from tests.psrp.endpoint import (
    Error,
    Event,
    Invocation,
    Output,
    Progress,
    PSObj,
    PsrpEndpoint,
    Warn,
    make_pki,
)

pytestmark = pytest.mark.psrp

HOSTILE = [
    "it's a \"quoted\" value",
    "a; Remove-Item C:\\ -Recurse",
    "$(Stop-Computer -Force)",
    "`$env:PATH`n`t",
    "line1\nline2\ttab\r\n",
    "_x0041_ literal escape",
    "<Obj RefId=\"0\"/>&amp;",
    "Ünïcödé ✓ 中文 😀",
    "x" * 10_000,
]


def fake_host(commands: list[Invocation]) -> Iterator[Event]:
    """A tiny stand-in for a Hyper-V host."""
    command = commands[0]
    if command.name == "Get-VMHost":
        yield Output(
            PSObj(
                ["Microsoft.HyperV.PowerShell.VMHost"],
                {"ComputerName": "HV1", "VirtualMachineMigrationEnabled": True, "MaximumVirtualMachineMigrations": 2},
                to_string="HV1",
            )
        )
    elif command.name == "Get-VM":
        yield Output({"Name": "vm1", "State": "Running", "MemoryStartup": 4 * 2**30})
    elif command.name == "Echo":
        yield Output({"parameters": command.parameters, "arguments": command.arguments})
    elif command.name == "Move-VM":
        for percent in (0, 50, 100):
            yield Progress(percent, "Moving vm1", f"{percent}% complete", completed=percent == 100)
        yield Warn("WhatIf: nothing moved") if command.parameters.get("WhatIf") else Output("moved")
    elif command.name == "Enable-VMMigration":
        yield Error(
            "The operation cannot be performed while the object is in its current state.",
            "InvalidState,Microsoft.HyperV.PowerShell.Commands.EnableVMMigration",
            category="InvalidOperation",
            hresult=-2147024809,
            exception_type="Microsoft.HyperV.PowerShell.VirtualizationException",
        )
    elif command.name == "Set-VMHost":
        yield Error("Access is denied.", "AccessDenied,Set-VMHost", category="PermissionDenied", terminating=True)
    elif command.name == "Slow":
        for i in range(200):
            yield Progress(i // 2, "Slow", str(i))
            time.sleep(0.02)
    elif command.name == "Boom":
        raise RuntimeError("handler bug")
        yield  # pragma: no cover
    else:
        yield Error(f"The term '{command.name}' is not recognized", "CommandNotFoundException", terminating=True)


def client(ep: PsrpEndpoint, **overrides: object) -> WSMan:
    options: dict[str, object] = {"connection_timeout": 2, "read_timeout": 5, "operation_timeout": 3}
    options.update(overrides)
    return WSMan(**ep.wsman_kwargs(**options))


def run(pool: RunspacePool, name: str, *args: object, **params: object) -> PowerShell:
    ps = PowerShell(pool)
    ps.add_cmdlet(name)
    for key, value in params.items():
        ps.add_parameter(key, value)
    for value in args:
        ps.add_argument(value)
    ps.invoke()
    return ps


@pytest.fixture
def endpoint() -> Iterator[PsrpEndpoint]:
    with PsrpEndpoint(fake_host, username="LAB\\lmdoctor", password="S3cret!") as ep:
        yield ep


def test_open_and_close_runspace_pool(endpoint: PsrpEndpoint) -> None:
    with client(endpoint) as wsman:
        pool = RunspacePool(wsman)
        pool.open()
        assert pool.state == 2  # OPENED
        assert pool.protocol_version == "2.3"
        assert pool.is_alive()
        pool.close()

    assert endpoint.actions == ["Create", "Receive", "Get", "Delete"]
    create, receive = endpoint.requests[:2]
    assert create.received == ["SessionCapability", "InitRunspacePool"]
    assert receive.sent == ["SessionCapability", "ApplicationPrivateData", "RunspacePoolState"]
    assert create.shell_id == pool.id


def test_runspace_pool_housekeeping_messages(endpoint: PsrpEndpoint) -> None:
    with client(endpoint) as wsman, RunspacePool(wsman) as pool:
        pool.max_runspaces = 3
        pool.min_runspaces = 2
        assert pool.get_available_runspaces() == 3
        pool.exchange_keys()

    assert endpoint.received_messages()[2:] == [
        "SetMaxRunspaces",
        "SetMinRunspaces",
        "GetAvailableRunspaces",
        "PublicKey",
    ]
    assert endpoint.sent_messages()[-1] == "EncryptedSessionKey"


def test_concurrent_pools(endpoint: PsrpEndpoint) -> None:
    def work(index: int) -> list[object]:
        with client(endpoint) as wsman, RunspacePool(wsman) as pool:
            return [run(pool, "Echo", index, i).output[0].extended_properties["arguments"] for i in range(3)]

    with ThreadPoolExecutor(max_workers=4) as executor:
        results = list(executor.map(work, range(4)))
    assert results == [[[n, i] for i in range(3)] for n in range(4)]


def test_typed_and_custom_objects_are_readable(endpoint: PsrpEndpoint) -> None:
    with client(endpoint) as wsman, RunspacePool(wsman) as pool:
        (vmhost,) = run(pool, "Get-VMHost").output
        (vm,) = run(pool, "Get-VM", Name="vm1").output

    assert vmhost.adapted_properties == {
        "ComputerName": "HV1",
        "VirtualMachineMigrationEnabled": True,
        "MaximumVirtualMachineMigrations": 2,
    }
    assert vmhost.types[0] == "Microsoft.HyperV.PowerShell.VMHost"
    assert str(vmhost) == "HV1"
    assert vm.extended_properties == {"Name": "vm1", "State": "Running", "MemoryStartup": 4 * 2**30}


def test_parameters_and_arguments_arrive_intact(endpoint: PsrpEndpoint) -> None:
    with client(endpoint) as wsman, RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Echo")
        for i, value in enumerate(HOSTILE):
            ps.add_parameter(f"P{i}", value)
        ps.add_parameter("WhatIf")
        ps.add_parameter("Count", 3).add_parameter("Flag", False).add_parameter("List", ["a", 1])
        for value in HOSTILE:
            ps.add_argument(value)
        (echo,) = ps.invoke()

    assert not ps.had_errors
    parameters = echo.extended_properties["parameters"].extended_properties
    assert [parameters[f"P{i}"] for i in range(len(HOSTILE))] == HOSTILE
    assert parameters["WhatIf"] is True
    assert (parameters["Count"], parameters["Flag"], parameters["List"]) == (3, False, ["a", 1])
    assert echo.extended_properties["arguments"] == HOSTILE


def test_large_pipeline_is_fragmented_both_ways(endpoint: PsrpEndpoint) -> None:
    big = "é" * 400_000  # beyond one 500 KiB envelope once serialised
    with client(endpoint) as wsman, RunspacePool(wsman) as pool:
        (echo,) = run(pool, "Echo", big).output

    assert echo.extended_properties["arguments"] == [big]
    assert "Send" in endpoint.actions  # CreatePipeline continued after the Command
    receives = [r for r in endpoint.requests if r.action == "Receive" and r.command_id]
    assert sum(len(r.sent) for r in receives) >= 2


def test_progress_records_reach_the_client(endpoint: PsrpEndpoint) -> None:
    with client(endpoint) as wsman, RunspacePool(wsman) as pool:
        ps = run(pool, "Move-VM", "vm1", DestinationHost="HV2", WhatIf=None)

    assert [p.percent_complete for p in ps.streams.progress] == [0, 50, 100]
    assert ps.streams.progress[0].activity == "Moving vm1"
    assert ps.streams.progress[1].description == "50% complete"
    assert [w.message for w in ps.streams.warning] == ["WhatIf: nothing moved"]
    assert ps.output == [] and ps.state == PSInvocationState.COMPLETED


def test_non_terminating_error_record(endpoint: PsrpEndpoint) -> None:
    with client(endpoint) as wsman, RunspacePool(wsman) as pool:
        ps = run(pool, "Enable-VMMigration")

    (error,) = ps.streams.error
    assert error.exception.adapted_properties["Message"].startswith("The operation cannot be performed")
    assert error.exception.adapted_properties["HResult"] == -2147024809
    assert error.exception.types[0] == "Microsoft.HyperV.PowerShell.VirtualizationException"
    assert error.fq_error == "InvalidState,Microsoft.HyperV.PowerShell.Commands.EnableVMMigration"
    assert error.reason == "VirtualizationException"
    assert ps.state == PSInvocationState.COMPLETED and not ps.had_errors


def test_terminating_error_fails_the_pipeline(endpoint: PsrpEndpoint) -> None:
    with client(endpoint) as wsman, RunspacePool(wsman) as pool:
        ps = run(pool, "Set-VMHost", VirtualMachineMigrationAuthenticationType="Kerberos")
        broken = run(pool, "Boom")

    assert ps.had_errors and ps.state == PSInvocationState.FAILED
    assert [e.fq_error for e in ps.streams.error] == ["AccessDenied,Set-VMHost"]
    assert broken.had_errors
    assert "RuntimeError: handler bug" in broken.streams.error[0].exception.adapted_properties["Message"]


def test_stop_a_running_pipeline(endpoint: PsrpEndpoint) -> None:
    with client(endpoint) as wsman, RunspacePool(wsman) as pool:
        ps = PowerShell(pool).add_cmdlet("Slow")
        ps.begin_invoke()
        ps.poll_invoke()
        ps.stop()
        assert ps.state == PSInvocationState.STOPPED
        assert run(pool, "Get-VM").output  # the pool is still usable

    assert [r.signal for r in endpoint.requests if r.action == "Signal"] == ["ctrl_c"]


def test_plain_http() -> None:
    with PsrpEndpoint(fake_host, https=False) as ep:
        assert ep.url.startswith("http://") and ep.ca_file is None
        with client(ep) as wsman, RunspacePool(wsman) as pool:
            assert run(pool, "Get-VM").output[0].extended_properties["Name"] == "vm1"


def test_wrong_password_is_401(endpoint: PsrpEndpoint) -> None:
    with client(endpoint, password="wrong") as wsman:
        with pytest.raises(AuthenticationError):
            RunspacePool(wsman).open()
    assert [r.status for r in endpoint.requests] == [401]


def test_fault_http_401(endpoint: PsrpEndpoint) -> None:
    endpoint.fault = "http_401"
    with client(endpoint) as wsman, pytest.raises(AuthenticationError):
        RunspacePool(wsman).open()


def test_fault_http_500(endpoint: PsrpEndpoint) -> None:
    endpoint.fault = "http_500"
    with client(endpoint) as wsman, pytest.raises(WinRMTransportError) as caught:
        RunspacePool(wsman).open()
    assert caught.value.code == 500


def test_fault_hang_times_out(endpoint: PsrpEndpoint) -> None:
    endpoint.fault = "hang"
    started = time.monotonic()
    with client(endpoint, connection_timeout=1, read_timeout=1) as wsman:
        with pytest.raises(requests.exceptions.Timeout):
            RunspacePool(wsman).open()
    assert time.monotonic() - started < 3


def test_fault_drop_mid_receive(endpoint: PsrpEndpoint) -> None:
    with client(endpoint) as wsman:
        pool = RunspacePool(wsman)
        pool.open()  # the fault only hits Receives of a command
        endpoint.fault = "drop_mid_receive"
        started = time.monotonic()
        with pytest.raises(requests.exceptions.RequestException):
            run(pool, "Get-VM")
        assert time.monotonic() - started < 3
    assert endpoint.requests[-1].action == "Receive" and endpoint.requests[-1].status == 0


def test_receive_without_data_is_an_operation_timeout(endpoint: PsrpEndpoint) -> None:
    with client(endpoint) as wsman:
        pool = RunspacePool(wsman)
        pool.open()
        with pytest.raises(WSManFaultError) as caught:
            pool.shell.receive("stdout", timeout=1)
    assert caught.value.code == 0x80338029


def test_unknown_ca_is_refused(endpoint: PsrpEndpoint, tmp_path: Path) -> None:
    other_ca = make_pki(tmp_path, name="someone else's CA").ca_file
    with client(endpoint, cert_validation=str(other_ca)) as wsman:
        with pytest.raises(requests.exceptions.SSLError):
            RunspacePool(wsman).open()
    assert endpoint.requests == []


def test_delay_applies_per_request() -> None:
    with PsrpEndpoint(fake_host, delay=0.2) as ep:
        started = time.monotonic()
        with client(ep) as wsman, RunspacePool(wsman):
            pass
        elapsed = time.monotonic() - started
    assert len(ep.requests) == 3  # Create, Receive, Delete
    assert 0.6 <= elapsed < 2
