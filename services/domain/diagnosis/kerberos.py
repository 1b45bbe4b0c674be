"""Kerberos preconditions every move needs: clocks within the KDC's tolerance, and AES-capable accounts."""

from __future__ import annotations

from collections.abc import Iterator

from lmdoctor.services.domain import fixes
from lmdoctor.services.domain.diagnosis.common import finding
from lmdoctor.services.domain.models import (
    ENCTYPE_AES128,
    ENCTYPE_AES256,
    ENCTYPE_RC4,
    ENCTYPES_AES,
    Finding,
    FixPlan,
    Severity,
    Snapshot,
)

MAX_CLOCK_SKEW_S = 300  # Kerberos' default "Maximum tolerance for computer clock synchronization" (5 minutes)
HARDENING = ("The 2026 Kerberos hardening (CVE-2026-20833, KB5073381: audit events from January, an AES-only default "
             "from April, no rollback from July 2026) ends RC4 as the implicit fallback")
_ENCTYPE_NAMES = ((0x1, "DES-CBC-CRC"), (0x2, "DES-CBC-MD5"), (ENCTYPE_RC4, "RC4"), (ENCTYPE_AES128, "AES128"),
                  (ENCTYPE_AES256, "AES256"), (0x20, "AES session keys"))


def clock_skew(snapshot: Snapshot) -> Iterator[Finding]:
    """A host more than 5 minutes off the DC's clock fails every Kerberos exchange (KRB_AP_ERR_SKEW)."""
    dc = snapshot.dc_clock_offset_s
    if dc is None:
        return
    for node in snapshot.nodes:
        offset = node.host.clock_offset_s if node.host and node.host.reachable else None
        if offset is None or abs(offset - dc) <= MAX_CLOCK_SKEW_S:
            continue
        skew = offset - dc
        yield finding(
            "clock.skew", Severity.ERROR,
            f"{node.name}'s clock is {_duration(skew)} {'ahead of' if skew > 0 else 'behind'} the domain controller's",
            "Kerberos refuses any request whose time differs from the KDC's by more than the domain's tolerance "
            "(5 minutes by default): tickets for and from this host fail (KRB_AP_ERR_SKEW, 0x80090324), whatever "
            "the delegation says.",
            source=node.name,
            evidence=[f"{node.name} Get-Date: {offset:+.0f} s against this machine's clock",
                      f"domain controller RootDSE currentTime: {dc:+.0f} s against this machine's clock",
                      f"{node.name} is {skew:+.0f} s off the DC; tolerance {MAX_CLOCK_SKEW_S} s (the Kerberos default; "
                      "the domain's own value is in the Default Domain Policy in SYSVOL, which lmdoctor does not read)"],
            remedy=f"On {node.name}: w32tm /query /source and w32tm /query /status; make it follow the domain "
                   "hierarchy (w32tm /config /syncfromflags:domhier /update; Restart-Service w32time; "
                   "w32tm /resync /force); on a virtual machine check that Hyper-V time synchronization does not "
                   f"fight the domain time; then klist purge -li 0x3e7 on {node.name}.",
        )


def no_aes(snapshot: Snapshot) -> Iterator[Finding]:
    """Node accounts and the operator's account whose msDS-SupportedEncryptionTypes excludes AES.

    An unset (or 0) value is not flagged: after the April 2026 update the DC assumes AES for such accounts
    (KB5073381: "all domain controllers only support AES-SHA1-encrypted tickets for accounts without an
    explicit Kerberos encryption type configuration")."""
    for node in snapshot.nodes:
        a = node.account
        if a is not None and (enctypes := _without_aes(a.enctypes)):
            yield _no_aes_finding(node.name, f"{node.name}$", a.dn, enctypes, computer=True)
    op = snapshot.operator
    if op is not None and op.dn and (enctypes := _without_aes(op.enctypes)):
        yield _no_aes_finding(op.name, op.name, op.dn, enctypes, computer=False)


def _without_aes(enctypes: int | None) -> int | None:
    """The value when it is set and excludes AES, else None."""
    return enctypes if enctypes and not enctypes & ENCTYPES_AES else None


def _no_aes_finding(name: str, account: str, dn: str, enctypes: int, computer: bool) -> Finding:
    after = "; then, on the host, change the machine password so AES keys exist (Reset-ComputerMachinePassword) and " \
            "purge the SYSTEM session's tickets" if computer else \
            "; then change the account's password (AES keys come with a password set at domain functional level " \
            "2008 or later) and sign in again (klist purge on the jump host)"
    return finding(
        "kerberos.no_aes", Severity.WARNING,
        f"{account} allows {_names(enctypes)} Kerberos tickets only: no AES",
        f"The KDC encrypts tickets for an account only with the types its msDS-SupportedEncryptionTypes lists. {HARDENING}: "
        "an account that excludes AES works only while RC4 stays explicitly allowed, and peers whose policy allows "
        "AES only refuse its RC4 tickets. A host whose Group Policy ('Network security: Configure encryption types "
        "allowed for Kerberos') allows RC4 only writes that value back: change the policy too.",
        source=name if computer else None,
        evidence=[f"{account} msDS-SupportedEncryptionTypes = {enctypes:#x} ({_names(enctypes)}); "
                  "AES128 (0x8) and AES256 (0x10) not set"],
        fix=FixPlan(summary=f"Add AES128 and AES256 to {account}'s encryption types{after}",
                    actions=(fixes.allow_aes(dn, name, computer),), purge_hosts=(name,) if computer else ()),
        remedy=("Reset-ComputerMachinePassword on the host (or Test-ComputerSecureChannel -Repair), then "
                "klist purge -li 0x3e7" if computer else "Change the password, then sign in again") +
               "; the DCs' System log shows KDCSVC events 201–209 while RC4 is still requested.",
    )


def _names(enctypes: int) -> str:
    return "+".join(n for bit, n in _ENCTYPE_NAMES if enctypes & bit) or f"{enctypes:#x}"


def _duration(seconds: float) -> str:
    seconds = abs(round(seconds))
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"
