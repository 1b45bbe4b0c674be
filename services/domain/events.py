"""Classify Hyper-V / cluster error text to a likely cause.

The order of evidence: an error code in the text (a known code, then the family it belongs to),
then known wording, then the event id — and an id that usually marks a milestone counts only
when neither its level nor its text reports a failure. A code nothing else explains is named."""

from __future__ import annotations

import re
from dataclasses import dataclass

HRESULT_RE = re.compile(r"0x[0-9a-fA-F]{8}")
UNRECOGNISED = "unrecognised:"  # prefix of the cause of a code no rule knows: "unrecognised:0x80041001"
E_FAIL = 0x80004005  # "Unspecified error": names no cause, so it is not reported as one


@dataclass(frozen=True)
class Signature:
    cause: str
    hresults: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    event_ids: tuple[int, ...] = ()


# Most specific first; within one kind of evidence the first match wins.
SIGNATURES: tuple[Signature, ...] = (
    Signature(
        "kcd-missing-or-kerberos-only",
        ("0x8009030e",),
        ("no credentials are available in the security package", "no suitable credentials available"),
    ),
    Signature(
        "auth-mismatch-or-wrong-object",
        ("0x8009030d",),
        ("credentials supplied to the package were not recognized",),
    ),
    Signature(
        "duplicate-spn-or-stale-dns",
        ("0x80090322",),
        ("target principal name is incorrect",),
    ),
    Signature("no-kdc", ("0x80090311",), ("no authority could be contacted",)),
    Signature("clock-skew", ("0x80090324", "0xc0000133"),
              ("clocks on the client and server machines are skewed", "time at the primary domain controller is different")),
    Signature(
        "network",
        ("0x8007274d", "0x8007274c", "0x80072746"),
        ("actively refused", "connection attempt failed", "forcibly closed"),
    ),
    Signature("logon-right", ("0x80070569",), ("logon type",)),
    Signature("migration-disabled", (), ("not configured for live migration", "migration is disabled")),
    Signature("migration-limit", (), ("migration limit",), (21501,)),
    Signature("cluster", (), ("cluster network", "cluster node is not available")),
    Signature("storage-path", (), ("cannot find the path", "cannot find the file", "network path was not found",
                                   "network name cannot be found")),
    Signature("access-denied", (), ("access is denied", "access denied")),
)

LIFECYCLE_IDS = (20413, 20415, 20417)  # start, blackout, completion of a migration attempt
BLACKOUT_EVENT = 20415  # VMMS-Admin: a live migration succeeded, with the VM's blackout time
# Its text names the VM in quotes and the blackout in seconds: the shape admins parse it in
# ("'(.*)'.*blackout time of (.+) seconds \(VMID (.*)\)", Get-LiveMigrationBlackoutTime, wiki.webperfect.ch,
# "Blackout-Time (VM Live Migration)"). English only: a localised host's text is not read.
_BLACKOUT = re.compile(r"'(?P<vm>[^']*)'.*blackout time of (?P<seconds>[0-9]+(?:[.,][0-9]+)?) seconds", re.DOTALL)
FAILURE_LEVELS = {"critical", "error", "warning"}
FAILURE_WORDS = ("fail", "error", "cannot", "could not", "unable", "denied", "refused")

# Win32 error codes (raw, or as HRESULT_FROM_WIN32 0x8007xxxx) with a meaning for live migration.
WIN32_CAUSES: dict[int, str] = {
    2: "storage-path", 3: "storage-path", 53: "storage-path", 67: "storage-path",  # file/path/network path
    5: "access-denied",
    1225: "network", 1231: "network", 1236: "network", 1460: "network", 1722: "network",  # refused, unreachable,
    # aborted, timeout, RPC server unavailable
    1311: "no-kdc", 1398: "no-kdc",  # no logon servers; clock skew
    1385: "logon-right",
    1396: "duplicate-spn-or-stale-dns",  # ERROR_WRONG_TARGET_NAME
    8: "resources", 14: "resources", 1450: "resources",  # not enough memory / system resources
}


def hresults(text: str) -> list[str]:
    return [h.lower() for h in HRESULT_RE.findall(text or "")]


def _win32(code: int) -> int | None:
    """The Win32 error of a raw Win32 code or an HRESULT_FROM_WIN32 (facility 7), else None."""
    if code < 0x10000:
        return code
    if code >> 16 == 0x8007:
        return code & 0xFFFF
    return None


def _family(code: int) -> str | None:
    """The cause a code's family points to: Windows Sockets errors (10000–11999) are the network,
    failover-cluster errors (5000–5999) the cluster, security-package errors (0x8009xxxx) authentication."""
    win32 = _win32(code)
    if win32 is not None:
        if win32 in WIN32_CAUSES:
            return WIN32_CAUSES[win32]
        if 10000 <= win32 <= 11999:
            return "network"
        if 5000 <= win32 <= 5999:
            return "cluster"
        return None
    if code >> 16 == 0x8009:
        return "security-package"
    return None


def blackout_ms(message: str, vm: str) -> float | None:
    """The blackout time (ms) a 20415 text gives for `vm`, or None when it is not that VM's or not readable."""
    match = _BLACKOUT.search(message or "")
    if not match or match["vm"].lower() != vm.lower():
        return None
    return round(float(match["seconds"].replace(",", ".")) * 1000, 1)


def reports_failure(text: str, level: str | None = None) -> bool:
    """True when an event's level or wording reports that something went wrong."""
    lowered = (text or "").lower()
    return (level or "").lower() in FAILURE_LEVELS or any(w in lowered for w in FAILURE_WORDS)


def classify(message: str, event_id: int | None = None, level: str | None = None) -> str | None:
    """Return the cause tag for an error text, or None when nothing points to one.

    Container events (21024, 21111, 21502) are classified by their inner text; a lifecycle id
    (20413/20415/20417) whose level or text reports a failure is classified by that text."""
    text = (message or "").lower()
    codes = hresults(text)
    for sig in SIGNATURES:  # the most specific known code
        if set(codes).intersection(sig.hresults):
            return sig.cause
    for code in codes:
        if cause := _family(int(code, 16)):
            return cause
    for sig in SIGNATURES:
        if any(p in text for p in sig.phrases):
            return sig.cause
    for sig in SIGNATURES:
        if event_id is not None and event_id in sig.event_ids:
            return sig.cause
    if event_id in LIFECYCLE_IDS and not reports_failure(text, level):
        return "migration-lifecycle"
    unknown = [c for c in codes if int(c, 16) != E_FAIL and (int(c, 16) & 0x80000000 or _win32(int(c, 16)))]
    return f"{UNRECOGNISED}{unknown[0]}" if unknown else None


CAUSE_TEXT = {
    "kcd-missing-or-kerberos-only": "Constrained delegation missing on the source, Kerberos-only "
    "delegation on a remotely started move, a CredSSP move not started on the source, stale tickets, or an "
    "operator account that cannot be delegated",
    "auth-mismatch-or-wrong-object": "CredSSP/Kerberos mismatch between nodes, or delegation "
    "missing / set on the wrong object",
    "duplicate-spn-or-stale-dns": "Duplicate SPN, or a stale DNS record sending Kerberos to another host",
    "no-kdc": "No domain controller reachable (DC, DNS, site, clock)",
    "clock-skew": "A clock differs from the domain controller's by more than Kerberos allows (5 minutes by default)",
    "network": "Network or firewall (ports 6600, 3343, 445), not authentication",
    "logon-right": "User-rights policy: logon type not granted",
    "migration-disabled": "Live migration is disabled on a host",
    "migration-limit": "Simultaneous migration limit reached",
    "migration-lifecycle": "Migration lifecycle event (start, blackout, completion)",
    "cluster": "Failover cluster: a cluster network or node is unavailable (Get-ClusterNetwork, "
    "Get-ClusterNode), not authentication",
    "storage-path": "A VM file or folder path is not reachable from the host (missing folder, share or SMB access)",
    "access-denied": "Access denied: the account or the host lacks rights on the VM's files or the destination",
    "resources": "The host ran out of memory or system resources (often the destination): free memory or "
    "move fewer VMs at once",
    "security-package": "A Kerberos/CredSSP security-package error: check delegation, SPNs and the "
    "migration authentication type",
}


def describe(cause: str | None) -> str:
    if cause and cause.startswith(UNRECOGNISED) and HRESULT_RE.fullmatch(code := cause[len(UNRECOGNISED):]):
        return f"Unrecognised error code {code}: look it up with `certutil -error {code}`"
    return CAUSE_TEXT.get(cause or "", "Unclassified")
