"""VMs on SMB shares: every node that may run or move them must delegate to the file server's cifs."""

from __future__ import annotations

from collections.abc import Iterator

from lmdoctor.services.domain import fixes
from lmdoctor.services.domain import vm_storage as storage
from lmdoctor.services.domain.diagnosis.common import finding
from lmdoctor.services.domain.models import Finding, FixPlan, Severity, Snapshot
from lmdoctor.services.domain.spn import spn_key

CAUSE = ("A VM whose configuration or disks live on \\\\server\\share is opened over SMB by the host that runs it, "
         "acting for the operator when the move is started remotely: a move needs cifs/<file server> in the "
         "delegation of the source node as well as of the destination (the peers' cifs is not enough). Without it "
         "the move fails with access denied (0x80070005) or 0x8009030E.")


def smb_delegation(snapshot: Snapshot) -> Iterator[Finding]:
    """One finding per (node, file server) the node may not delegate to; any node may be a move's source or
    destination, so every node needs every file server the cluster's VMs use."""
    vms = [vm for n in snapshot.nodes if n.host and n.host.reachable for vm in n.host.vms]
    servers = storage.file_servers(vms)
    for node in snapshot.nodes:
        a = node.account
        if a is None or a.unconstrained or not servers:
            continue
        have = {spn_key(v) for v in a.allowed_to_delegate_to}
        for server, on in sorted(servers.items()):
            lacking = [v for v in storage.cifs_targets(server, snapshot.domain) if spn_key(v) not in have]
            if not lacking:
                continue
            short = server.split(".")[0].upper()
            used = {spn_key(f"cifs/{storage.file_server(p)}") for vm in on for p in vm.paths if storage.file_server(p)}
            blocking = [v for v in lacking if spn_key(v) in used]
            names = ", ".join(vm.name for vm in on)
            yield finding(
                "storage.smb_delegation", Severity.ERROR if blocking else Severity.WARNING,
                f"{node.name} may not delegate to {short}'s shares: moves of {names} from or to {node.name} "
                + ("fail" if blocking else f"addressed as {lacking[0].split('/', 1)[1]} fail"),
                CAUSE, source=node.name, target=short,
                evidence=[f"{node.name} msDS-AllowedToDelegateTo lacks: {v}" for v in lacking]
                + [f"{vm.name} (on {vm.host}) has files on {short}: "
                   + ", ".join(p for p in vm.paths if (storage.file_server(p) or "").lower() == server) for vm in on],
                fix=FixPlan(summary=f"Add {len(lacking)} cifs values for {short} to {node.name}'s msDS-AllowedToDelegateTo",
                            actions=(fixes.add_delegation(a, lacking, short, services="cifs"),),
                            purge_hosts=(node.name,)),
            )
