"""What every run does first: settle changes left in doubt, then close expired CredSSP windows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from lmdoctor.services.operations import credssp
from lmdoctor.services.operations.remediation import RemediationError, Remediator

Say = Callable[[str], None]


def settle(remediator: Remediator, now: datetime, say: Say) -> None:
    """Read back every in-doubt change (landed / not landed) and revert expired CredSSP windows.

    In read-only mode nothing is journaled or written: the user is told what is pending instead."""
    doubt = remediator.journal.in_doubt()
    if remediator.read_only:
        if doubt:
            say(f"journal: {len(doubt)} change(s) in doubt (#{', #'.join(str(e.seq) for e in doubt)}); "
                "run without --read-only to settle them")
        for window in credssp.windows(remediator):
            if window.expired(now):
                say(window.describe(now) + " (read-only: not reverted now)")
        return
    interrupted: dict[str, int] = {}  # change -> seq of its intent line
    for e in remediator.journal.entries():
        interrupted.setdefault(e.change_id, e.seq)
    for entry in remediator.reconcile():
        verdict = "landed" if entry.state == "reconciled" else "did not land" if "before the write" in (entry.error or "") \
            else "found other values"
        say(f"journal: settled interrupted change #{interrupted.get(entry.change_id, entry.seq)} as {entry.state} "
            f"(read back: {verdict}): {entry.action.description}")
    try:
        outcome = credssp.expire_due(remediator, now, say)
    except RemediationError as exc:  # a host down: warn, keep the window, try again next run
        say(f"CredSSP window expired but cannot be reverted now: {exc}")
        return
    if outcome is not None:
        say("CredSSP window expired: reverted to Kerberos" if outcome.ok
            else f"CredSSP window expired but the revert FAILED: {outcome.problem}")

