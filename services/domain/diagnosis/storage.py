"""VMs on SMB shares: every node that may run or move them must delegate to the file server's cifs."""

from __future__ import annotations

from collections.abc import Iterator

from lmdoctor.services.domain import fixes
from lmdoctor.services.domain import vm_storage as storage
from lmdoctor.services.domain.diagnosis.common import finding
from lmdoctor.services.domain.models import Finding, FixPlan, Severity, Snapshot

CAUSE = ("A VM whose configuration or disks live on \\\\server\\share is opened over SMB by the host that runs it, "
         "acting for the operator when the move is started remotely: a move needs cifs/<file server> in the "
         "delegation of the source node as well as of the destination (the peers' cifs is not enough). Without it "
         "the move fails with access denied (0x80070005) or 0x8009030E.")


def smb_delegation(snapshot: Snapshot) -> Iterator[Finding]:
    """One finding per (node, file server) the node may not delegate to; any node may be a move's source or
    destination, so every node needs every file server the cluster's VMs use. The pair verdict
    (lmdoctor.services.domain.coverage) counts the same gaps, so the matrix, the walkthrough, the drain plan
    and the exit code agree with these findings."""
    for node, found in storage.gaps(snapshot).items():
        held = snapshot.node(node)
        a = held.account if held else None
        if a is None:  # a gap is found only on a node whose computer account was read
            continue
        for gap in found:
            if not gap.lacking:  # only protocol transition is lacking: delegation.kerberos_only fixes it
                continue
            on = [vm for n in snapshot.nodes if n.host and n.host.reachable for vm in n.host.vms if vm.name in gap.vms]
            yield finding(
                "storage.smb_delegation", Severity.ERROR if gap.blocking else Severity.WARNING,
                f"{node} may not delegate to {gap.server}'s shares: moves of {', '.join(gap.vms)} from or to {node} "
                + ("fail" if gap.blocking else f"addressed as {gap.lacking[0].split('/', 1)[1]} fail"),
                CAUSE, source=node, target=gap.server,
                evidence=[f"{node} msDS-AllowedToDelegateTo lacks: {v}" for v in gap.lacking]
                + [f"{vm.name} (on {vm.host}) has files on {gap.server}: "
                   + ", ".join(p for p in vm.paths if (storage.file_server(p) or "").split(".")[0].upper() == gap.server)
                   for vm in on],
                fix=FixPlan(summary=f"Add {len(gap.lacking)} cifs values for {gap.server} to {node}'s "
                                    "msDS-AllowedToDelegateTo",
                            actions=(fixes.add_delegation(a, gap.lacking, gap.server, services="cifs"),),
                            purge_hosts=(node,)),
            )
