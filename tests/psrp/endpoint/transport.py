"""HTTP(S) front end: TLS, Basic or Windows (Negotiate/Kerberos) auth, message encryption, faults, request log."""

from __future__ import annotations

import base64
import hmac
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from . import soap
from .winauth import ConnectionAuth, Unencrypted, WindowsAuth, parse_authorization
from .wsman import Reply, WsmanService

HANG = "hang"
DROP_MID_RECEIVE = "drop_mid_receive"


@dataclass(frozen=True)
class RequestRecord:
    """One HTTP request as the endpoint saw it."""

    action: str  # WSMan action name (Create, Command, Send, Receive, Signal, Delete, Get) or "?"
    status: int  # HTTP status answered; 0 when no answer was sent (hang, drop)
    shell_id: str | None = None
    command_id: str | None = None
    received: list[str] = field(default_factory=list)  # PSRP message types from the client
    sent: list[str] = field(default_factory=list)  # PSRP message types to the client
    signal: str | None = None  # Signal code tail: ctrl_c, Terminate
    auth: str = ""  # scheme of the Authorization header the request carried ("" when none)
    content_type: str = ""  # of the request body
    reply_type: str = ""  # Content-Type of the answer ("" when it had no body)
    wire: bytes = b""  # the request as it arrived: request line, headers and body bytes


@dataclass
class ServerConfig:
    """What the request handler needs from its endpoint (read on every request)."""

    service: WsmanService
    username: str
    password: str
    delay: Callable[[], float]
    fault: Callable[[], str | None]
    record: Callable[[RequestRecord], None]
    ssl_context: ssl.SSLContext | None = None
    windows: WindowsAuth | None = None  # None: Basic auth only
    channel_bindings: bytes | None = None  # tls-server-end-point data of the served certificate
    released: threading.Event = field(default_factory=threading.Event)


class WsmanHTTPServer(ThreadingHTTPServer):
    """Threaded HTTP server that keeps track of open connections."""

    daemon_threads = True

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), WsmanRequestHandler)

    def track(self, sock: socket.socket, alive: bool) -> None:
        with self._conn_lock:
            (self._connections.add if alive else self._connections.discard)(sock)

    def close_connections(self) -> None:
        with self._conn_lock:
            connections, self._connections = list(self._connections), set()
        for sock in connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Failed TLS handshakes and client hang-ups are expected in tests: stay quiet."""


class WsmanRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""
    server: WsmanHTTPServer

    def setup(self) -> None:
        # Headers and body go out in separate writes: without NODELAY, Nagle + delayed ACK add ~40 ms to each.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        context = self.server.config.ssl_context
        if context is not None:
            self.request.settimeout(10)  # bounded TLS handshake
            tls = context.wrap_socket(self.request, server_side=True, do_handshake_on_connect=False)
            try:
                tls.do_handshake()
            except OSError:
                tls.close()  # e.g. the client refused our certificate
                raise
            tls.settimeout(None)
            self.request = tls
        self.server.track(self.request, True)
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.request, False)
            if self.server.config.ssl_context is not None:
                self.request.close()  # socketserver only closes the (detached) plain socket

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""

    def do_POST(self) -> None:
        config = self.server.config
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if config.windows is not None:
            self._windows_post(config, config.windows, data)
            return
        try:
            request: soap.Request | None = soap.parse_request(data)
        except Exception:
            request = None
        action = request.name if request else "?"
        shell_id = request.shell_id if request else None
        fault = config.fault()

        if fault == HANG:
            config.record(RequestRecord(action, 0, shell_id))
            config.released.wait()  # set when the endpoint stops
            self.close_connection = True
            return
        early = self._early_status(config, fault, request)
        if early:
            config.record(RequestRecord(action, early, shell_id))
            self._send(early, b"", basic_challenge=early == 401)
            return
        assert request is not None

        delay = config.delay()
        if delay:
            time.sleep(delay)
        reply = config.service.handle(request, config.username, self.client_address[0], self.headers.get("Host", ""))
        drop = fault == DROP_MID_RECEIVE and action == "Receive" and reply.command_id is not None
        # Log before answering, so the log is complete by the time the client reacts.
        config.record(
            RequestRecord(
                action,
                0 if drop else reply.status,
                reply.shell_id or shell_id,
                reply.command_id,
                reply.received,
                reply.sent,
                reply.signal,
            )
        )
        if drop:
            self._send_half(reply)
        else:
            self._send(reply.status, reply.body)

    # --- Windows authentication: Negotiate/Kerberos per connection, sealed bodies over HTTP ---------------
    def _windows_post(self, config: ServerConfig, windows: WindowsAuth, data: bytes) -> None:
        head = "".join(f"{name}: {value}\r\n" for name, value in self.headers.items())
        wire = f"{self.requestline}\r\n{head}\r\n".encode("latin-1", "replace") + data
        content_type = self.headers.get("Content-Type", "")
        scheme = self.headers.get("Authorization", "").partition(" ")[0]
        log = dict(auth=scheme, content_type=content_type, wire=wire)
        fault = config.fault()
        if fault and fault.startswith("http_"):
            config.record(RequestRecord("?", int(fault[5:]), **log))
            self._send(int(fault[5:]), b"")
            return
        link: ConnectionAuth = getattr(self, "_auth", None) or ConnectionAuth(config.channel_bindings)
        self._auth = link
        reply_token = None
        if "Authorization" in self.headers:
            parsed = parse_authorization(self.headers["Authorization"])
            if parsed is None or parsed[0] not in windows.offer:
                self._challenge(config, windows, log)
                return
            try:
                reply_token = link.step(*parsed)
            except Exception:  # refused token: unknown user, wrong password, bad or skewed ticket
                self._auth = None
                self._challenge(config, windows, log)
                return
            if not link.complete:
                config.record(RequestRecord("?", 401, **log))
                self._send(401, b"", challenge=[f"{parsed[0]} {base64.b64encode(reply_token or b'').decode()}"])
                return
        elif not link.complete:
            self._challenge(config, windows, log)
            return
        mutual = [f"{link.scheme} {base64.b64encode(reply_token).decode()}"] if reply_token else []
        if not data:  # the empty POST a client sends to set up encryption before its first message
            config.record(RequestRecord("?", 200, **log))
            self._send(200, b"", challenge=mutual)
            return
        sealed = config.ssl_context is None and not windows.allow_unencrypted
        try:
            plain = link.unseal(content_type, data) if sealed or content_type.startswith("multipart/") else data
        except Unencrypted as exc:
            body = soap.fault("", soap.ERROR_ACCESS_DENIED, "The WinRM service cannot process the request: "
                              f"unencrypted traffic is disabled in the service configuration ({exc}).",
                              "wsman:AccessDenied")
            config.record(RequestRecord("?", 500, reply_type=soap_type(body), **log))
            self._send(500, body, challenge=mutual)
            return
        try:
            request = soap.parse_request(plain)
        except Exception:
            config.record(RequestRecord("?", 400, **log))
            self._send(400, b"", challenge=mutual)
            return
        reply = config.service.handle(request, link.principal, self.client_address[0], self.headers.get("Host", ""))
        body, reply_type = reply.body, soap_type(reply.body)
        if sealed and not windows.plaintext_replies:
            reply_type, body = link.seal(reply.body)
        config.record(RequestRecord(request.name, reply.status, reply.shell_id or request.shell_id, reply.command_id,
                                    reply.received, reply.sent, reply.signal, reply_type=reply_type, **log))
        self._send(reply.status, body, challenge=mutual, content_type=reply_type)

    def _challenge(self, config: ServerConfig, windows: WindowsAuth, log: dict[str, Any]) -> None:
        config.record(RequestRecord("?", 401, **log))
        offers = [s if s != "Basic" else 'Basic realm="WSMAN"' for s in windows.offer]
        self._send(401, b"", challenge=offers)

    def _early_status(self, config: ServerConfig, fault: str | None, request: soap.Request | None) -> int:
        """An HTTP status to answer with before any WSMan processing, or 0."""
        if fault and fault.startswith("http_"):
            return int(fault[5:])
        if not self._authorised(config):
            return 401
        if request is None:
            return 400
        return 0

    def _authorised(self, config: ServerConfig) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(token).decode("utf-8").partition(":")
        except ValueError:
            return False
        same_user = hmac.compare_digest(user.lower().encode(), config.username.lower().encode())
        return same_user and hmac.compare_digest(password.encode(), config.password.encode())

    def _send(self, status: int, body: bytes, *, basic_challenge: bool = False, challenge: list[str] = (),
              content_type: str = "") -> None:
        self.send_response(status)
        if basic_challenge:
            self.send_header("WWW-Authenticate", 'Basic realm="WSMAN"')
        for offer in challenge:
            self.send_header("WWW-Authenticate", offer)
        if body:
            self.send_header("Content-Type", content_type or "application/soap+xml;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_half(self, reply: Reply) -> None:
        """Announce the full body, send half of it, then cut the connection."""
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body[: len(reply.body) // 2])
        self.wfile.flush()
        self.close_connection = True
        try:
            self.request.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def soap_type(body: bytes) -> str:
    return "application/soap+xml;charset=UTF-8" if body else ""
