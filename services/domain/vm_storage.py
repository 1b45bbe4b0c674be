"""VM files on SMB shares: which file servers a VM's configuration and disks live on, and which nodes lack
the delegation to reach them.

A VM stored on \\\\server\\share is reached over SMB by the hosts that run and move it, acting for the
operator; a remotely started move therefore needs cifs/<file server> (short name and FQDN) in the
delegation of the source node as well as of the destination (which runs the VM afterwards and is the source
of its next move). Microsoft's "Troubleshoot live migration issues"
(https://learn.microsoft.com/troubleshoot/windows-server/virtualization/troubleshoot-live-migration-issues) has
each host trusted, with "Use any authentication protocol", for cifs ("required to migrate storage") and the
Microsoft Virtual System Migration Service; "Set up hosts for live migration without Failover Clustering"
(https://learn.microsoft.com/windows-server/virtualization/hyper-v/deploy/set-up-hosts-for-live-migration-without-failover-clustering)
sets up the same delegation on each host; "Enable-SmbDelegation"
(https://learn.microsoft.com/powershell/module/smbshare/enable-smbdelegation) is the file server side of the
same grant, for a user remoting into a Hyper-V host that opens a share.

A move started remotely (WinRM from a jump host) reaches the file server through KCD with protocol transition
(TRUSTED_TO_AUTH_FOR_DELEGATION, "Use any authentication protocol"): without it the KDC refuses the
cifs/<file server> ticket even when the values are there, so a 'Kerberos only' node counts as a gap for every
file server. An RBCD grant on the file server's own account would cover it instead, but the snapshot reads only
the nodes' accounts, so that grant is not known here (the evidence says so)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lmdoctor.services.domain.models import NodeSnapshot, Snapshot, VirtualMachine
from lmdoctor.services.domain.spn import for_host, spn_key

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


@dataclass(frozen=True)
class ShareGap:
    """One node's missing delegation to one file server the cluster's VMs use."""

    node: str
    server: str  # the file server's short name, upper case
    lacking: tuple[str, ...]  # cifs/<server> values not in the node's msDS-AllowedToDelegateTo
    blocking: tuple[str, ...]  # the lacking values that name the server as the VMs' paths do (moves fail)
    vms: tuple[str, ...]  # the VMs with files on the server
    kerberos_only: bool = False  # the node lacks protocol transition: its cifs values do not serve a remote move

    @property
    def fails(self) -> bool:
        """Moves of the VMs fail: a value their paths use is lacking, or the node may not use any protocol."""
        return bool(self.blocking) or self.kerberos_only

    @property
    def finding(self) -> str:
        """The id of the finding that fixes it: storage.smb_delegation for lacking values, else
        delegation.kerberos_only (protocol transition)."""
        if self.lacking:
            return f"storage.smb_delegation:{self.node}:{self.server}"
        return f"delegation.kerberos_only:{self.node}:-"

    def text(self) -> str:
        lacks = [*self.lacking, *(["protocol transition (0x1000000)"] if self.kerberos_only else [])]
        return (f"VMs on SMB shares ({', '.join(self.vms)} on {self.server}): {self.node} lacks {', '.join(lacks)}"
                + ("" if self.fails else " (only a name their paths do not use)"))


def _used(vms: Iterable[VirtualMachine], server: str) -> set[str]:
    """The comparison keys of cifs/<server> in the forms the VMs' paths name it."""
    return {spn_key(f"cifs/{s}") for vm in vms for s in map(file_server, vm.paths) if s and s.lower() == server}


def node_gaps(node: NodeSnapshot, servers: dict[str, list[VirtualMachine]], domain: str) -> tuple[ShareGap, ...]:
    """What this node lacks for each file server (none when it is unconstrained or has no computer object);
    'Kerberos only' (userAccountControl read, 0x1000000 not set) is a gap for every file server."""
    a = node.account
    if a is None or a.unconstrained:
        return ()
    have = {spn_key(v) for v in a.allowed_to_delegate_to}
    kerberos_only = a.uac is not None and not a.protocol_transition
    gaps = []
    for server, on in sorted(servers.items()):
        lacking = tuple(v for v in cifs_targets(server, domain) if spn_key(v) not in have)
        if lacking or kerberos_only:
            used = _used(on, server)
            gaps.append(ShareGap(node=node.name, server=server.split(".")[0].upper(), lacking=lacking,
                                 blocking=tuple(v for v in lacking if spn_key(v) in used),
                                 vms=tuple(vm.name for vm in on), kerberos_only=kerberos_only))
    return tuple(gaps)


def cluster_servers(snapshot: Snapshot) -> dict[str, list[VirtualMachine]]:
    """File server -> the VMs of the answering nodes with files on it."""
    return file_servers(vm for n in snapshot.nodes if n.host and n.host.reachable for vm in n.host.vms)


def gaps(snapshot: Snapshot) -> dict[str, tuple[ShareGap, ...]]:
    """Node -> its gaps, for every node lacking something; one pass over the cluster (empty without SMB storage)."""
    servers = cluster_servers(snapshot)
    if not servers:
        return {}
    found = {n.name: node_gaps(n, servers, snapshot.domain) for n in snapshot.nodes}
    return {name: g for name, g in found.items() if g}


def blocking_for(vm: VirtualMachine, node_gaps: Iterable[ShareGap]) -> list[ShareGap]:
    """The gaps that stop moves of this VM: a lacking value names a file server the way its paths do, or the node
    lacks protocol transition."""
    found = []
    for gap in node_gaps:
        if gap.kerberos_only and vm.name in gap.vms:
            found.append(gap)
            continue
        used = {spn_key(f"cifs/{s}") for s in map(file_server, vm.paths) if s and s.split(".")[0].upper() == gap.server}
        if any(spn_key(v) in used for v in gap.lacking):
            found.append(gap)
    return found
