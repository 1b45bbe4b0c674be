"""Values lmdoctor could not use: one finding per object holding them, with each raw value shown safely."""

from __future__ import annotations

from collections.abc import Iterator

from lmdoctor.services.domain.diagnosis.common import finding
from lmdoctor.services.domain.models import BadValue, Finding, Severity, Snapshot

CAUSES = {
    "directory": ("The object holds values lmdoctor cannot use (not UTF-8 text, not a host name, a malformed "
                  "dnsRecord or security descriptor, a missing attribute). They are left out of the checks, so the "
                  "findings about this object may be incomplete; everything else is checked as usual."),
    "host": ("The cluster reported a node whose name is not a computer name. lmdoctor cannot look it up in the "
             "directory or ask the host, so that node is left out of every check; the other nodes are checked."),
}
REMEDIES = {
    "directory": ("Inspect the values in ADSI Edit (or Get-ADComputer -Properties *) and correct or remove them "
                  "with Set-ADComputer; a missing userAccountControl usually means the account lmdoctor binds with "
                  "may not read it."),
    "host": "Run Get-ClusterNode on a node; a damaged node entry is fixed by evicting and re-adding the node.",
}


def _evidence(v: BadValue) -> str:
    return f"{v.holder} {v.attribute} = {v.value}: {v.problem}"


def bad_values(snapshot: Snapshot) -> Iterator[Finding]:
    """Grouped by holder. An error when the holder is a cluster node (its own checks are incomplete),
    a warning for any other object (the cluster name object, another delegator)."""
    nodes = {n.name for n in snapshot.nodes}
    found = [v for n in snapshot.nodes if n.account for v in n.account.bad_values]
    found += [v for a in snapshot.other_delegators for v in a.bad_values] + list(snapshot.bad_values)
    held: dict[tuple[str, str], list[BadValue]] = {}
    for value in found:
        held.setdefault((value.origin, value.holder), []).append(value)
    for (origin, holder), values in sorted(held.items()):
        severity = Severity.ERROR if origin == "host" or holder in nodes else Severity.WARNING
        what = "the cluster's node list" if origin == "host" else "the directory"
        yield finding(f"{origin}.bad_value", severity,
                      f"{holder}: {len(values)} value(s) from {what} that lmdoctor cannot use",
                      CAUSES[origin], source=holder, evidence=[_evidence(v) for v in values], remedy=REMEDIES[origin])
