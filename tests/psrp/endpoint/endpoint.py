"""PsrpEndpoint: a loopback WinRM/PSRP endpoint for tests, as a context manager."""

from __future__ import annotations

import shutil
import ssl
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from .events import Handler
from .tls import TestPki, make_pki
from .transport import DROP_MID_RECEIVE, HANG, RequestRecord, ServerConfig, WsmanHTTPServer
from .winauth import WindowsAuth, tls_server_end_point
from .wsman import WsmanService

FAULTS = (HANG, DROP_MID_RECEIVE, "http_401", "http_500")


class PsrpEndpoint:
    """A WSMan + PSRP server on 127.0.0.1 (ephemeral port, path ``/wsman``).

    Args:
        handler: runs each pipeline; see ``events.Handler``.
        https: serve TLS with a CA generated for this endpoint (``ca_file``).
        username, password: the only Basic credentials accepted.
        delay: seconds to sleep before answering each authorised request.
        fault: ``None``, ``"hang"`` (never answer), ``"drop_mid_receive"``
            (cut the connection halfway through the answer to a command's
            Receive) or ``"http_<status>"`` such as ``"http_401"`` /
            ``"http_500"`` (answer every request with that status).
            ``fault`` and ``delay`` may be changed while the endpoint runs.
        pki: serve this certificate (e.g. one CA shared by several endpoints)
            instead of generating a fresh CA.
        route: serve several hosts on one port: maps the HTTP Host header
            a client sent (``name:port``) to that host's handler; each new
            shell gets the handler of the host it was opened for.
        windows: authenticate as a Windows listener (Negotiate/Kerberos,
            message encryption over HTTP; see ``winauth``) instead of Basic.
            The acceptor reads its keys from ``KRB5_KTNAME`` and its NTLM
            accounts from ``NTLM_USER_FILE``; the caller sets both.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        https: bool = True,
        username: str = "lmdoctor",
        password: str = "Pa55w.rd",
        delay: float = 0.0,
        fault: str | None = None,
        pki: TestPki | None = None,
        route: Callable[[str], Handler] | None = None,
        windows: WindowsAuth | None = None,
    ) -> None:
        self.handler = handler
        self.https = https
        self.username = username
        self.password = password
        self.delay = delay
        self.fault = fault
        self.pki = pki
        self.route = route
        self.windows = windows
        self._records: list[RequestRecord] = []
        self._records_lock = threading.Lock()
        self._tmp: Path | None = None
        self._server: WsmanHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._config: ServerConfig | None = None
        self.ca_file: Path | None = None

    @property
    def fault(self) -> str | None:
        return self._fault

    @fault.setter
    def fault(self, value: str | None) -> None:
        if value is not None and value not in FAULTS and not (value.startswith("http_") and value[5:].isdigit()):
            raise ValueError(f"unknown fault {value!r}; use one of {FAULTS} or http_<status>")
        self._fault = value

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> PsrpEndpoint:
        context, bindings = None, None
        if self.https:
            pki = self.pki
            if pki is None:
                self._tmp = Path(tempfile.mkdtemp(prefix="psrp-endpoint-"))
                pki = make_pki(self._tmp)
            self.ca_file = pki.ca_file
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(pki.cert_file, pki.key_file)
            bindings = tls_server_end_point(ssl.PEM_cert_to_DER_cert(pki.cert_file.read_text()))
        self._config = ServerConfig(
            service=WsmanService(self.handler, self.route),
            username=self.username,
            password=self.password,
            delay=lambda: self.delay,
            fault=lambda: self._fault,
            record=self._record,
            ssl_context=context,
            windows=self.windows,
            channel_bindings=bindings,
        )
        self._server = WsmanHTTPServer(self._config)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="psrp-endpoint", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None or self._config is None:
            return
        self._config.released.set()  # let hung requests go
        self._config.service.close()  # wake Receives waiting for data
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
        self._server = None

    def discard_shells(self) -> None:
        """Forget every open shell, as WinRM does after its idle timeout or a service restart."""
        if self._config is not None:
            self._config.service.close()

    def __enter__(self) -> PsrpEndpoint:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses and client settings -------------------------------------

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("endpoint not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.https else 'http'}://{self.host}:{self.port}/wsman"

    def wsman_kwargs(self, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for ``pypsrp.wsman.WSMan`` that reach this endpoint."""
        kwargs: dict[str, Any] = {
            "server": self.host,
            "port": self.port,
            "path": "wsman",
            "ssl": self.https,
            "auth": "basic",
            "username": self.username,
            "password": self.password,
            "cert_validation": str(self.ca_file) if self.https else False,
            "encryption": "auto" if self.https else "never",
            "no_proxy": True,
        }
        kwargs.update(overrides)
        return kwargs

    # -- request log --------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request seen so far, oldest first (a copy)."""
        with self._records_lock:
            return list(self._records)

    @property
    def actions(self) -> list[str]:
        """Just the WSMan action names of ``requests``."""
        return [r.action for r in self.requests]

    def received_messages(self) -> list[str]:
        """All PSRP message types the clients sent, in order."""
        return [name for r in self.requests for name in r.received]

    def sent_messages(self) -> list[str]:
        """All PSRP message types the endpoint sent, in order."""
        return [name for r in self.requests for name in r.sent]

    def clear_requests(self) -> None:
        with self._records_lock:
            self._records.clear()

    def _record(self, record: RequestRecord) -> None:
        with self._records_lock:
            self._records.append(record)
