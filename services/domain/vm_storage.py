"""VM files on SMB shares: which file servers a VM's configuration and disks live on.

A VM stored on \\\\server\\share is reached over SMB by the hosts that run and move it, acting for the
operator; a remotely started move therefore needs cifs/<file server> (short name and FQDN) in the
delegation of the source node as well as of the destination."""

from __future__ import annotations

from collections.abc import Iterable

from lmdoctor.services.domain.models import VirtualMachine
from lmdoctor.services.domain.spn import for_host

_LONG_UNC = "\\\\?\\UNC\\"


def file_server(path: str) -> str | None:
    """The server of a UNC path (\\\\server\\share\\…, also \\\\?\\UNC\\server\\…); None for a local path."""
    if path.upper().startswith(_LONG_UNC):
        rest = path[len(_LONG_UNC):]
    elif path.startswith("\\\\") and not path.startswith(("\\\\?\\", "\\\\.\\")):
        rest = path[2:]
    else:
        return None
    server = rest.split("\\", 1)[0].strip()
    return server or None


def servers_of(vm: VirtualMachine) -> tuple[str, ...]:
    """The file servers a VM's files live on, as the paths name them, lower-cased, each once."""
    return tuple(dict.fromkeys(s.lower() for s in (file_server(p) for p in vm.paths) if s))


def cifs_targets(server: str, domain: str) -> tuple[str, str]:
    """cifs/<SHORT> and cifs/<fqdn> of a file server named short or fully qualified."""
    short = server.split(".")[0].upper()
    fqdn = server.lower() if "." in server else f"{server.lower()}.{domain}"
    return for_host("cifs", short, fqdn)


def file_servers(vms: Iterable[VirtualMachine]) -> dict[str, list[VirtualMachine]]:
    """File server (lower-cased, as written) -> the VMs with files on it."""
    found: dict[str, list[VirtualMachine]] = {}
    for vm in vms:
        for server in servers_of(vm):
            found.setdefault(server, []).append(vm)
    return found
