"""Service principal names: parsing, comparison and what a migration needs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from lmdoctor.services.domain.errors import LmdoctorError
from lmdoctor.services.domain.models import VSMS

# SPNs a Hyper-V cluster node registers (short and FQDN each); cifs/ is served by HOST/.
HOST_SPN_SERVICES = (
    "HOST",
    "RestrictedKrbHost",
    "WSMAN",
    VSMS,
    "Microsoft Virtual Console Service",
)
CLUSTER_SPN_SERVICES = ("MSServerClusterMgmtAPI",)
# Services a source must be allowed to delegate to on each destination.
DELEGATION_SERVICES = (VSMS, "cifs")
# Service classes the KDC maps onto the HOST/ SPN (the default sPNMappings subset we care about).
HOST_ALIASES = frozenset({"cifs"})


_CONTROL = re.compile(r"[\x00-\x1f]")


class SpnError(LmdoctorError, ValueError):
    """Not a well-formed service principal name."""


@dataclass(frozen=True)
class Spn:
    service: str
    host: str
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> Spn:
        """Parse `service/host[:port][/name]`; raise SpnError naming what is wrong."""
        if not isinstance(text, str) or not text:
            raise SpnError("SPN is empty")
        if len(text) > 1024:
            raise SpnError("SPN is longer than 1024 characters")
        if _CONTROL.search(text):
            raise SpnError(f"SPN {text[:60]!r} contains a control character")
        service, sep, rest = text.partition("/")
        if not sep or not service.strip() or not rest:
            raise SpnError(f"SPN {text[:60]!r} is not of the form service/host")
        host_part = rest.split("/", 1)[0]
        host, _, port_text = host_part.partition(":")
        if not host:
            raise SpnError(f"SPN {text[:60]!r} has no host")
        port = None
        if port_text:
            if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
                raise SpnError(f"SPN {text[:60]!r} has an invalid port {port_text!r}")
            port = int(port_text)
        return cls(service=service, host=host, port=port)

    @property
    def key(self) -> str:
        """Case-insensitive identity of the SPN (AD compares SPNs without case)."""
        port = f":{self.port}" if self.port else ""
        return f"{self.service}/{self.host}{port}".lower()

    def __str__(self) -> str:
        port = f":{self.port}" if self.port else ""
        return f"{self.service}/{self.host}{port}"


@lru_cache(maxsize=65536)
def spn_key(text: str) -> str:
    """Lower-cased comparison key; unparseable text compares as itself, lower-cased."""
    try:
        return Spn.parse(text).key
    except SpnError:
        return text.lower()


@lru_cache(maxsize=4096)  # pure: a 64-node grid asks the same few thousand times
def for_host(service: str, short: str, fqdn: str) -> tuple[str, str]:
    """The short-name and FQDN forms of one service on one host."""
    return (f"{service}/{short}", f"{service}/{fqdn}")


@lru_cache(maxsize=1024)
def required_host_spns(short: str, fqdn: str, cluster_node: bool = True) -> tuple[str, ...]:
    services = HOST_SPN_SERVICES + (CLUSTER_SPN_SERVICES if cluster_node else ())
    return tuple(s for service in services for s in for_host(service, short, fqdn))


@lru_cache(maxsize=1024)
def delegation_targets(short: str, fqdn: str) -> tuple[str, ...]:
    """The four msDS-AllowedToDelegateTo values a source needs for destination `short`."""
    return tuple(s for service in DELEGATION_SERVICES for s in for_host(service, short, fqdn))


@lru_cache(maxsize=65536)
def registered_form(spn: str) -> str:
    """The SPN the KDC looks up: cifs/X is registered as HOST/X."""
    parsed = Spn.parse(spn)
    if parsed.service.lower() in HOST_ALIASES:
        return str(Spn("HOST", parsed.host, parsed.port))
    return str(parsed)
