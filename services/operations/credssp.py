"""The CredSSP window: switch a host to CredSSP for a bounded time, show what is left, revert to Kerberos.

A window is the journaled, applied `host.set_auth_type` → CredSSP change that carries an `expires`
time and has not been rolled back. Reverting is a journaled rollback of that change (so it restores
exactly the prior value and refuses if someone changed the host since); an expired window is
reverted on the next run (lmdoctor.services.operations.reconcile).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from lmdoctor.services.domain import fixes
from lmdoctor.services.domain.inputs import CREDSSP_MAX_MINUTES as MAX_MINUTES
from lmdoctor.services.domain.models import AuthType, ChangePreview, FixPlan, JournalEntry
from lmdoctor.services.domain.value_diff import same
from lmdoctor.services.operations.remediation import Outcome, RemediationError, Remediator
from lmdoctor.services.storage.journal import new_id

Notify = Callable[[str], None]

CREDENTIAL_GUARD_WARNING = (
    "Credential Guard (on by default in Windows Server 2025) blocks CredSSP: a CredSSP live migration fails "
    "on hosts where it is enabled, and CredSSP works only for moves started in a session on the source host")


class CredsspError(RemediationError):
    """The window cannot be opened or reverted as asked."""


@dataclass(frozen=True)
class Window:
    """An open CredSSP window on one host."""

    entry: JournalEntry

    @property
    def host(self) -> str:
        return self.entry.action.target

    @property
    def expires(self) -> datetime:
        assert self.entry.expires is not None
        return self.entry.expires

    def remaining(self, now: datetime) -> timedelta:
        return max(self.expires - now, timedelta(0))

    def expired(self, now: datetime) -> bool:
        return now >= self.expires

    def describe(self, now: datetime) -> str:
        if self.expired(now):
            return f"CredSSP window on {self.host} EXPIRED at {self.expires:%Y-%m-%d %H:%M} UTC: reverts to Kerberos on the next run"
        return (f"CredSSP window on {self.host}: {format_remaining(self.remaining(now))} left "
                f"(reverts to Kerberos at {self.expires:%Y-%m-%d %H:%M} UTC)")


def format_remaining(left: timedelta) -> str:
    seconds = int(left.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def windows(remediator: Remediator) -> list[Window]:
    """Open windows, oldest first."""
    return [Window(e) for e in remediator.undoable()
            if e.action.kind == "host.set_auth_type" and e.expires is not None
            and same(e.after, (AuthType.CREDSSP.value,))]


def open_window(remediator: Remediator, host: str, minutes: int, reason: str, now: datetime,
                notify: Notify | None = None) -> Outcome:
    """Set CredSSP on `host` until now + minutes (journaled with the expiry)."""
    if not 1 <= minutes <= MAX_MINUTES:
        raise CredsspError(f"--minutes must be between 1 and {MAX_MINUTES}")
    host = host.upper()
    if any(w.host == host for w in windows(remediator)):
        raise CredsspError(f"{host} already has an open CredSSP window")
    plan = FixPlan(summary=f"CredSSP window on {host}", actions=(fixes.set_auth_type(host, AuthType.CREDSSP),))
    (preview,) = remediator.preview(plan)
    if preview.no_op:
        raise CredsspError(f"{host} already uses CredSSP outside a window; return it to Kerberos first")
    return remediator.apply([preview], reason, notify=notify, expires=now + timedelta(minutes=minutes))


def revert(remediator: Remediator, chosen: list[Window], reason: str, notify: Notify | None = None) -> Outcome:
    """Return each window's host to its prior authentication type (journaled rollback).

    A host already returned by hand is not written again: the window is closed in the journal."""
    remediator.ensure_writable()
    with remediator.journal.writing():  # one writer at a time: a window closed meanwhile is left alone
        return _revert(remediator, chosen, reason, notify or (lambda _m: None))


def _revert(remediator: Remediator, chosen: list[Window], reason: str, notify: Notify) -> Outcome:
    to_write, outcome = [], Outcome(batch=new_id())
    still_open = {w.entry.change_id for w in windows(remediator)}
    for window in chosen:
        if window.entry.change_id not in still_open:
            notify(f"the window on {window.host} is already closed")
            continue
        current = remediator.current(window.entry.action)
        if same(current, window.entry.before):
            preview = ChangePreview(action=window.entry.action, before=window.entry.after, after=window.entry.before)
            remediator.journal.record(batch=outcome.batch, change_id=new_id(), state="reconciled", preview=preview,
                                      reason=f"{reason} (already {current[0]}: closed without a write)",
                                      read_back=current, rollback_of=window.entry.change_id)
            notify(f"{window.host} already uses {current[0]}; window closed")
        else:
            to_write.append(window.entry)
    if not to_write:
        return outcome
    return remediator.rollback(to_write, reason, notify=notify)


def expire_due(remediator: Remediator, now: datetime, notify: Notify | None = None) -> Outcome | None:
    """Revert every window whose time is up; None when none is."""
    due = [w for w in windows(remediator) if w.expired(now)]
    if not due:
        return None
    reason = "; ".join(f"CredSSP window on {w.host} expired at {w.expires:%Y-%m-%d %H:%M} UTC "
                       f"(opened for: {w.entry.reason})" for w in due)
    return revert(remediator, due, reason, notify)
