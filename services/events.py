"""Classify Hyper-V / cluster error text to a likely cause (message text + HRESULT)."""

from __future__ import annotations

import re
from dataclasses import dataclass

HRESULT_RE = re.compile(r"0x[0-9a-fA-F]{8}")


@dataclass(frozen=True)
class Signature:
    cause: str
    hresults: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    event_ids: tuple[int, ...] = ()


# Most specific first; the first match wins.
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
    Signature(
        "network",
        ("0x8007274d", "0x8007274c", "0x80072746"),
        ("actively refused", "connection attempt failed", "forcibly closed"),
    ),
    Signature("logon-right", ("0x80070569",), ("logon type",)),
    Signature("migration-disabled", (), ("not configured for live migration", "migration is disabled")),
    Signature("migration-limit", (), ("migration limit",), (21501,)),
    Signature("migration-lifecycle", (), (), (20413, 20415, 20417)),
)


def hresults(text: str) -> list[str]:
    return [h.lower() for h in HRESULT_RE.findall(text or "")]


def classify(message: str, event_id: int | None = None) -> str | None:
    """Return the cause tag for an error text, or None when nothing matches.

    Container events (21024, 21111, 21502) are classified by their inner text."""
    text = (message or "").lower()
    codes = set(hresults(text))
    for sig in SIGNATURES:
        if codes.intersection(sig.hresults) or any(p in text for p in sig.phrases):
            return sig.cause
    for sig in SIGNATURES:
        if event_id is not None and event_id in sig.event_ids:
            return sig.cause
    return None


CAUSE_TEXT = {
    "kcd-missing-or-kerberos-only": "Constrained delegation missing on the source, Kerberos-only "
    "delegation on a remotely started move, a CredSSP move not started on the source, or stale tickets",
    "auth-mismatch-or-wrong-object": "CredSSP/Kerberos mismatch between nodes, or delegation "
    "missing / set on the wrong object",
    "duplicate-spn-or-stale-dns": "Duplicate SPN, or a stale DNS record sending Kerberos to another host",
    "no-kdc": "No domain controller reachable (DC, DNS, site, clock)",
    "network": "Network or firewall (ports 6600, 3343, 445), not authentication",
    "logon-right": "User-rights policy: logon type not granted",
    "migration-disabled": "Live migration is disabled on a host",
    "migration-limit": "Simultaneous migration limit reached",
    "migration-lifecycle": "Migration lifecycle event (start, blackout, completion)",
}


def describe(cause: str | None) -> str:
    return CAUSE_TEXT.get(cause or "", "Unclassified")
