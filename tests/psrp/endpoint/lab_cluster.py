"""One loopback WinRM/PSRP endpoint per lab Hyper-V host, all backed by one lab directory."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from lmdoctor.services.backends.hosts.psrp import PsrpHostGateway, WinRMSettings
from lmdoctor.services.backends.lab.state import LabStore

from .endpoint import PsrpEndpoint
from .lab_handler import LabHostHandler
from .tls import make_pki
from .winauth import WindowsAuth

USERNAME, PASSWORD = "lmdoctor@contoso.local", "Lab-Pa55w.rd"


class LabCluster:
    """Endpoints for every host of the lab in ``lab_dir`` (one test CA; Basic auth over HTTPS unless ``windows``).

    ``endpoints[host]`` and ``handlers[host]`` give the wire log and the commands each host received;
    ``gateway()`` is a PsrpHostGateway that reaches them (host names resolved to their loopback ports).
    With ``shared=True`` one endpoint serves every host, choosing the host by the HTTP Host header
    (as when all host names resolve to one address and the profile names one port).
    """

    def __init__(self, lab_dir: Path, delay: float = 0.0, shared: bool = False, *, https: bool = True,
                 windows: WindowsAuth | None = None) -> None:
        self.lab_dir = Path(lab_dir)
        store = LabStore(self.lab_dir)
        state = store.load_hosts()
        self.domain = state.domain
        self.hosts = sorted(state.hosts)
        self.cluster_name = state.cluster  # its network name is served by the owner node, the first host
        self._tmp = Path(tempfile.mkdtemp(prefix="lab-cluster-"))
        self.pki = make_pki(self._tmp, dns_names=tuple(f"{h}.{self.domain}".lower() for h in (*self.hosts, self.cluster_name)))
        self.handlers = {h: LabHostHandler(self.lab_dir, h) for h in self.hosts}
        if shared:
            one = PsrpEndpoint(self.handlers[self.hosts[0]], username=USERNAME, password=PASSWORD, delay=delay,
                               pki=self.pki, route=self._route, https=https, windows=windows)
            self.endpoints = {h: one for h in self.hosts}
        else:
            self.endpoints = {h: PsrpEndpoint(self.handlers[h], username=USERNAME, password=PASSWORD, delay=delay,
                                              pki=self.pki, https=https, windows=windows) for h in self.hosts}
        self.gateways: list[PsrpHostGateway] = []

    def _unique(self) -> list[PsrpEndpoint]:
        return list({id(e): e for e in self.endpoints.values()}.values())

    def _route(self, host_header: str) -> LabHostHandler:
        """"hv01.contoso.local:5986" -> HV01's handler."""
        return self.handlers[self._owner(host_header.rsplit(":", 1)[0])]

    def _owner(self, name: str) -> str:
        short = name.split(".")[0].upper()
        return self.hosts[0] if short == self.cluster_name else short

    def __enter__(self) -> LabCluster:
        for endpoint in self._unique():
            endpoint.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for gateway in self.gateways:
            gateway.close()
        for endpoint in self._unique():
            endpoint.stop()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def resolve(self, host: str) -> tuple[str, int]:
        """The loopback address of a host's endpoint (unknown names: a closed port, as DNS would fail)."""
        endpoint = self.endpoints.get(self._owner(host))
        if endpoint is None:
            raise OSError(f"{host}: name does not resolve")
        return endpoint.host, endpoint.port

    def settings(self, timeout_s: float = 5.0, password: str = PASSWORD) -> WinRMSettings:
        return WinRMSettings(transport="https", auth="basic", username=USERNAME, password=password,
                             cert_validation=str(self.pki.ca_file), timeout_s=timeout_s, domain=self.domain)

    def gateway(self, timeout_s: float = 5.0, password: str = PASSWORD) -> PsrpHostGateway:
        gateway = PsrpHostGateway(self.settings(timeout_s, password), seeds=self.hosts, resolve=self.resolve)
        self.gateways.append(gateway)
        return gateway

    def received(self, host: str) -> list:
        return list(self.handlers[host.upper()].received)
