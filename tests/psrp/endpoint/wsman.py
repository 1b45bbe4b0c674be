"""WSMan shell actions (MS-WSMV) mapped onto PSRP shell sessions."""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

from . import soap
from .events import Handler
from .session import OperationTimeout, ShellClosed, ShellSession
from .soap import NS, Request, q

PS_SIGNAL_CTRL_C = "powershell/signal/ctrl_c"
SIGNAL_TERMINATE = f"{soap.SHELL_URI}/signal/Terminate"
POWERSHELL_URI_PREFIX = "http://schemas.microsoft.com/powershell/"


@dataclass
class Reply:
    """An HTTP answer plus what the request carried, for the request log."""

    status: int
    body: bytes
    shell_id: str | None = None
    command_id: str | None = None
    received: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    signal: str | None = None


class WsmanFault(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class WsmanService:
    """Dispatches parsed WSMan requests; owns the open shells."""

    def __init__(self, handler: Handler, route: Callable[[str], Handler] | None = None) -> None:
        self._handler = handler
        self._route = route  # HTTP Host header -> the handler of that host (one endpoint, many hosts)
        self._shells: dict[str, ShellSession] = {}
        self._lock = threading.Lock()

    def handle(self, request: Request, owner: str, client_ip: str, host: str = "") -> Reply:
        method = getattr(self, f"_do_{request.name.lower()}", None)
        try:
            if method is None:
                raise WsmanFault(soap.ERROR_ACTION_NOT_SUPPORTED, f"The action {request.action} is not supported.")
            if request.name == "Create":
                return self._do_create(request, owner, client_ip, host)
            return method(request, owner, client_ip)
        except OperationTimeout:
            return self._fault(request, soap.ERROR_OPERATION_TIMEDOUT, "The WS-Management operation timed out.")
        except (ShellClosed, KeyError) as exc:
            return self._fault(request, soap.ERROR_INVALID_SELECTORS, f"Unknown shell or command: {exc}")
        except WsmanFault as exc:
            return self._fault(request, exc.code, str(exc))
        except Exception as exc:  # malformed input or a server bug: answer, don't hang up
            return self._fault(request, soap.ERROR_INTERNAL, f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        with self._lock:
            shells, self._shells = list(self._shells.values()), {}
        for shell in shells:
            shell.close()

    # -- actions ------------------------------------------------------------

    def _do_create(self, request: Request, owner: str, client_ip: str, host: str = "") -> Reply:
        if not request.resource_uri.startswith(POWERSHELL_URI_PREFIX):
            raise WsmanFault(soap.ERROR_ACTION_NOT_SUPPORTED, "Only PowerShell shells are served here.")
        shell_el = _required(request.body, "rsp:Shell")
        shell_id = shell_el.get("ShellId") or str(uuid.uuid4()).upper()
        creation = shell_el.find("pwsh:creationXml", NS)
        handler = self._route(host) if self._route is not None else self._handler
        session = ShellSession(shell_id, request.resource_uri, handler)
        received = session.feed(_b64(creation.text if creation is not None else ""))
        with self._lock:
            self._shells[shell_id.upper()] = session

        created = ET.Element(q("wst", "ResourceCreated"))
        ET.SubElement(created, q("wsa", "Address")).text = request.to or soap.ANONYMOUS
        params = ET.SubElement(created, q("wsa", "ReferenceParameters"))
        ET.SubElement(params, q("wsman", "ResourceURI")).text = request.resource_uri
        selectors = ET.SubElement(params, q("wsman", "SelectorSet"))
        ET.SubElement(selectors, q("wsman", "Selector"), Name="ShellId").text = shell_id

        shell = ET.Element(q("rsp", "Shell"))
        for name, value in (
            ("ShellId", shell_id),
            ("ResourceUri", request.resource_uri),
            ("Owner", owner),
            ("ClientIP", client_ip),
            ("IdleTimeOut", "PT7200.000S"),
            ("InputStreams", _text(shell_el, "rsp:InputStreams", "stdin pr")),
            ("OutputStreams", _text(shell_el, "rsp:OutputStreams", "stdout")),
            ("ShellRunTime", "P0DT0H0M0S"),
            ("ShellInactivity", "P0DT0H0M0S"),
        ):
            ET.SubElement(shell, q("rsp", name)).text = value
        body = soap.envelope(soap.response_action("CreateResponse", transfer=True), request.message_id, created, shell)
        return Reply(200, body, shell_id=shell_id, received=received)

    def _do_command(self, request: Request, owner: str, client_ip: str) -> Reply:
        session = self._session(request)
        line = _required(request.body, "rsp:CommandLine")
        command_id = line.get("CommandId") or str(uuid.uuid4()).upper()
        received = session.create_command(command_id, _b64(_text(line, "rsp:Arguments")))
        response = ET.Element(q("rsp", "CommandResponse"))
        ET.SubElement(response, q("rsp", "CommandId")).text = command_id
        body = soap.envelope(soap.response_action("CommandResponse"), request.message_id, response)
        return Reply(200, body, command_id=command_id, received=received)

    def _do_send(self, request: Request, owner: str, client_ip: str) -> Reply:
        session = self._session(request)
        received: list[str] = []
        command_id = None
        for stream in request.body.findall("rsp:Send/rsp:Stream", NS):
            command_id = stream.get("CommandId") or command_id
            received += session.feed(_b64(stream.text or ""))
        body = soap.envelope(soap.response_action("SendResponse"), request.message_id, ET.Element(q("rsp", "SendResponse")))
        return Reply(200, body, command_id=command_id, received=received)

    def _do_receive(self, request: Request, owner: str, client_ip: str) -> Reply:
        session = self._session(request)
        desired = _required(request.body, "rsp:Receive/rsp:DesiredStream")
        command_id = desired.get("CommandId")
        budget = max(16 * 1024, (request.max_envelope_size - 4096) * 3 // 4)
        batch = session.receive(command_id, request.operation_timeout, budget)

        response = ET.Element(q("rsp", "ReceiveResponse"))
        for payload in batch.payloads:
            attrs = {"Name": "stdout", **({"CommandId": command_id} if command_id else {})}
            ET.SubElement(response, q("rsp", "Stream"), attrs).text = base64.b64encode(payload).decode()
        if command_id:
            state = soap.COMMAND_STATE_DONE if batch.done else soap.COMMAND_STATE_RUNNING
            ET.SubElement(response, q("rsp", "CommandState"), CommandId=command_id, State=state)
        body = soap.envelope(soap.response_action("ReceiveResponse"), request.message_id, response)
        return Reply(200, body, command_id=command_id, sent=batch.message_types)

    def _do_signal(self, request: Request, owner: str, client_ip: str) -> Reply:
        session = self._session(request)
        signal_el = _required(request.body, "rsp:Signal")
        command_id = signal_el.get("CommandId", "")
        code = _text(signal_el, "rsp:Code")
        if code == PS_SIGNAL_CTRL_C:
            session.stop(command_id)
        elif code == SIGNAL_TERMINATE:
            session.terminate(command_id)
        body = soap.envelope(soap.response_action("SignalResponse"), request.message_id, ET.Element(q("rsp", "SignalResponse")))
        return Reply(200, body, command_id=command_id, signal=code.rsplit("/", 1)[-1])

    def _do_delete(self, request: Request, owner: str, client_ip: str) -> Reply:
        with self._lock:
            session = self._shells.pop((request.shell_id or "").upper(), None)
        if session is None:
            raise KeyError(request.shell_id)
        session.close()
        return Reply(200, soap.envelope(soap.response_action("DeleteResponse", transfer=True), request.message_id))

    def _do_get(self, request: Request, owner: str, client_ip: str) -> Reply:
        if request.resource_uri.endswith("/config"):
            config = ET.Element(q("cfg", "Config"))
            ET.SubElement(config, q("cfg", "MaxEnvelopeSizekb")).text = "500"
            return Reply(200, soap.envelope(soap.response_action("GetResponse", transfer=True), request.message_id, config))
        session = self._session(request)
        shell = ET.Element(q("rsp", "Shell"))
        for name, value in (
            ("ShellId", session.shell_id),
            ("ResourceUri", session.resource_uri),
            ("Owner", owner),
            ("ClientIP", client_ip),
            ("State", "Connected"),
        ):
            ET.SubElement(shell, q("rsp", name)).text = value
        return Reply(200, soap.envelope(soap.response_action("GetResponse", transfer=True), request.message_id, shell))

    # -- helpers ------------------------------------------------------------

    def _session(self, request: Request) -> ShellSession:
        with self._lock:
            session = self._shells.get((request.shell_id or "").upper())
        if session is None:
            raise KeyError(request.shell_id)
        return session

    @staticmethod
    def _fault(request: Request, code: int, message: str) -> Reply:
        return Reply(500, soap.fault(request.message_id, code, message))


def _required(parent: ET.Element, path: str) -> ET.Element:
    node = parent.find(path, NS)
    if node is None:
        raise WsmanFault(soap.ERROR_INTERNAL, f"Missing {path} in the request body.")
    return node


def _text(parent: ET.Element, path: str, default: str = "") -> str:
    node = parent.find(path, NS)
    return (node.text or default) if node is not None else default


def _b64(text: str) -> bytes:
    return base64.b64decode(text.strip()) if text and text.strip() else b""

