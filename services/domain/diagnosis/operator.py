"""The account that starts moves: a remote Move-VM is delegated on its behalf, so it must be delegable."""

from __future__ import annotations

from collections.abc import Iterator

from lmdoctor.services.domain.diagnosis.common import finding
from lmdoctor.services.domain.models import UAC_NOT_DELEGATED, Finding, Severity, Snapshot

INSTEAD = ("Start moves as an account that may be delegated: a dedicated live-migration operator that is neither "
           "marked sensitive nor in Protected Users (set it as the profile's winrm_user), or run Move-VM in a "
           "session on the source host (console or RDP: no delegation needed), or let the cluster move the VM "
           "(Move-ClusterVirtualMachineRole uses the cluster's own account). Clearing the flag "
           "(Set-ADAccountControl -AccountNotDelegated $false) or leaving Protected Users removes tier-0 "
           "protection from an admin account: a decision for the security owner, not a migration fix.")


def not_delegable(snapshot: Snapshot) -> Iterator[Finding]:
    op = snapshot.operator
    if op is None:
        return
    if op.dn is None:
        yield finding("operator.unknown", Severity.INFO, f"{op.name} was not found in the directory",
                      f"lmdoctor looked up {op.how} ({op.name}) by userPrincipalName and sAMAccountName to check that "
                      "it may be delegated; it may live in another domain. That check was skipped.",
                      evidence=[f"no user with userPrincipalName or sAMAccountName {op.name}"])
        return
    reasons = []
    if op.not_delegated:
        reasons.append(f"userAccountControl = {op.uac:#x}: 'Account is sensitive and cannot be delegated' "
                       f"({UAC_NOT_DELEGATED:#x}) is set")
    if op.protected_users:
        reasons.append("member of Protected Users (RID 525; read from its tokenGroups, nested groups included)")
    if not reasons:
        return
    yield finding(
        "operator.not_delegable", Severity.ERROR,
        f"{op.name} cannot be delegated: every move started remotely as it fails",
        "A move started from a jump host needs the source host to act for the operator (S4U2Self, then S4U2Proxy "
        "to the destination's services). The KDC gives such an account only non-forwardable tickets, so "
        "constrained and resource-based delegation both refuse it (0x8009030E), whatever the hosts' delegation says.",
        evidence=[f"{op.name} is {op.how}: {op.dn}", *reasons],
        remedy=INSTEAD,
    )
