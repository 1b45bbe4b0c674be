"""Remediation: preview a fix plan, apply it with a journal, read it back, and roll it back."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from lmdoctor.services.backends.directory.base import Directory, DirectoryError
from lmdoctor.services.backends.hosts.base import HostError, HostGateway, Unconfirmed
from lmdoctor.services.domain import rbcd
from lmdoctor.services.domain.errors import EXIT_CANNOT_RUN, EXIT_WRITE_FAILED, LmdoctorError
from lmdoctor.services.domain.models import AuthType, ChangePreview, FixAction, FixPlan, JournalEntry
from lmdoctor.services.domain.safetext import visible
from lmdoctor.services.domain.value_diff import diff, keys, same
from lmdoctor.services.storage.journal import Journal, new_id

Notify = Callable[[str], None]


class RemediationError(LmdoctorError):
    """A change could not be previewed, applied or rolled back; nothing further was written."""

    title = "The change failed"
    exit_code = EXIT_WRITE_FAILED


class ReadOnlyError(RemediationError):
    """Writes are disabled for this profile or session."""

    title = "Writes are disabled"
    exit_code = EXIT_CANNOT_RUN


class RollbackConflict(RemediationError):
    """The object changed since lmdoctor wrote it; rollback refuses to overwrite."""


@dataclass
class Outcome:
    batch: str
    applied: list[JournalEntry] = field(default_factory=list)
    failed: list[JournalEntry] = field(default_factory=list)
    in_doubt: list[JournalEntry] = field(default_factory=list)
    purged: list[str] = field(default_factory=list)
    unconfirmed: list[str] = field(default_factory=list)  # purges sent whose effect could not be confirmed
    messages: list[str] = field(default_factory=list)
    error: str | None = None  # why the batch stopped early (the changes before it are in `applied`)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.in_doubt and self.error is None

    @property
    def problem(self) -> str | None:
        """Why the outcome is not ok, in one line; None when it is."""
        if self.error:
            return self.error
        bad = self.failed or self.in_doubt
        return (bad[-1].error or bad[-1].state) if bad else None


class Remediator:
    def __init__(self, directory: Directory, hosts: HostGateway, journal: Journal, read_only: bool = False) -> None:
        self.directory = directory
        self.hosts = hosts
        self.journal = journal
        self.read_only = read_only

    # --- reading -----------------------------------------------------------------------
    def current(self, action: FixAction) -> tuple[str, ...]:
        try:
            if action.kind.startswith("directory."):
                return self.directory.read_values(action.target, action.attribute)
            report = self.hosts.host_report(action.target)
        except (DirectoryError, HostError) as exc:
            raise RemediationError(f"cannot read {action.attribute} of {action.target}: {exc}") from None
        if not report.reachable or report.settings is None:
            raise RemediationError(f"cannot read {action.target}: {report.error}")
        if action.kind == "host.set_auth_type":
            return (report.settings.auth_type.value,)
        if action.kind == "host.enable_migration":
            return (str(report.settings.migration_enabled),)
        return ()

    @staticmethod
    def target_value(action: FixAction, before: tuple[str, ...]) -> tuple[str, ...]:
        kind = action.kind
        if kind == "directory.add_values":
            have = keys(before)
            return before + tuple(v for v in action.values if v.lower() not in have)
        if kind == "directory.remove_values":
            drop = keys(action.values)
            return tuple(v for v in before if v.lower() not in drop)
        if kind == "directory.set_bits":
            old = int(before[0]) if before else 0
            return (str(old | int(action.values[0], 16)),)
        if kind in ("directory.set_uac_bits", "directory.clear_uac_bits"):
            if len(before) != 1 or not before[0].isdigit():
                raise RemediationError(f"userAccountControl of {action.target} is not one readable integer "
                                       f"({len(before)} value(s)); correct it before changing its bits")
            old, bits = int(before[0]), int(action.values[0], 16)
            return (str(old | bits if kind == "directory.set_uac_bits" else old & ~bits),)
        if kind in ("host.set_auth_type", "host.enable_migration"):
            return action.values
        if kind == "directory.grant_rbcd":
            blob = base64.b64decode(before[0]) if before else None
            return (base64.b64encode(rbcd.with_allowed(blob, action.values[0])).decode(),)
        return before

    def preview(self, plan: FixPlan) -> list[ChangePreview]:
        """One preview per action; an action on an attribute an earlier action changes builds on its result."""
        previews: list[ChangePreview] = []
        pending: dict[tuple[str, str], tuple[str, ...]] = {}
        for action in plan.actions:
            key = (action.target, action.attribute)
            before = pending[key] if key in pending else self.current(action)
            pending[key] = self.target_value(action, before)
            previews.append(ChangePreview(action=action, before=before, after=pending[key]))
        return previews

    # --- writing -----------------------------------------------------------------------
    def _write(self, action: FixAction, before: tuple[str, ...], after: tuple[str, ...]) -> None:
        """Move one attribute/setting from `before` to `after`, touching only the difference."""
        if action.kind.startswith("directory."):
            if action.attribute == "userAccountControl":
                old, new = int(before[0]), int(after[0])
                self.directory.change_uac(action.target, new & ~old, old & ~new)
                return
            if action.attribute == rbcd.ATTRIBUTE:
                self.directory.replace_binary(action.target, action.attribute, *(
                    base64.b64decode(v[0]) if v else None for v in (before, after)))
                return
            if action.kind == "directory.set_bits":  # single-valued: old and new in one modify
                self.directory.replace_binary(action.target, action.attribute,
                                              *(v[0].encode() if v else None for v in (before, after)))
                return
            change = diff(before, after)
            if change.removed:
                self.directory.remove_values(action.target, action.attribute, list(change.removed))
            if change.added:
                self.directory.add_values(action.target, action.attribute, list(change.added))
        elif action.kind == "host.set_auth_type":
            self.hosts.set_auth_type(action.target, AuthType(after[0]))
        elif action.kind == "host.enable_migration":
            self.hosts.set_migration_enabled(action.target, after[0] == "True")

    def ensure_writable(self) -> None:
        """Raise ReadOnlyError in read-only mode (profile `read_only` or --read-only)."""
        self._guard()

    def _guard(self) -> None:
        if self.read_only:
            raise ReadOnlyError("read-only mode: lmdoctor will not change anything (drop --read-only to allow writes)")

    def _change(self, outcome: Outcome, preview: ChangePreview, reason: str, rollback_of: str | None = None,
                expires: datetime | None = None) -> bool:
        """Journal intent, write, read back, journal outcome. Returns False when it failed or is in doubt."""
        change_id = new_id()
        record = partial(self.journal.record, batch=outcome.batch, change_id=change_id, preview=preview, reason=reason,
                         rollback_of=rollback_of, expires=expires)
        record(state="intent")
        write_error: str | None = None
        try:
            self._write(preview.action, preview.before, preview.after)
        except (DirectoryError, HostError) as exc:
            write_error = str(exc)  # the reply may be lost while the write landed: read back to know
        try:
            read_back = self.current(preview.action)
        except RemediationError as exc:
            error = f"{write_error}; cannot read back: {exc}" if write_error else f"written, but the read-back failed: {exc}"
            outcome.in_doubt.append(record(state="in_doubt", error=error))
            return False
        if not same(read_back, preview.after):
            outcome.failed.append(record(
                state="failed", read_back=read_back, error=write_error or "read back differs from the intended value"))
            return False
        if write_error:
            outcome.messages.append(f"{preview.action.description}: the write reported '{write_error}' but landed")
        outcome.applied.append(record(state="applied", read_back=read_back))
        return True

    def _purge(self, outcome: Outcome, hosts: Iterable[str], notify: Notify) -> None:
        for host in dict.fromkeys(hosts):
            try:
                self.hosts.purge_tickets(host)
                outcome.purged.append(host)
                notify(f"klist purge -li 0x3e7 on {host}: done")
            except Unconfirmed as exc:  # sent without error: never reported as failed
                outcome.unconfirmed.append(host)
                outcome.messages.append(f"klist purge -li 0x3e7 on {host}: sent, not confirmed ({visible(exc)}); "
                                        f"the host said: {visible(exc.host_text) or '(nothing)'}")
                notify(outcome.messages[-1])
            except HostError as exc:
                outcome.messages.append(f"klist purge on {host} failed: {exc}")
                notify(outcome.messages[-1])

    def apply(self, previews: list[ChangePreview], reason: str, purge_hosts: Iterable[str] = (),
              notify: Notify | None = None, expires: datetime | None = None) -> Outcome:
        """Apply previewed changes in order; stop at the first failure (later ones are not sent).

        A change with `expires` is time-boxed: lmdoctor.services.operations.credssp reverts it after that time."""
        self._guard()
        if not reason.strip():
            raise RemediationError("a reason (change ticket) is required for every write")
        notify = notify or (lambda _m: None)
        outcome = Outcome(batch=new_id())
        # (target, attribute) -> (value previewed first, value this batch left): previews made separately
        # (one per finding) of one attribute are rebased on what this batch wrote before them.
        touched: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {}
        for preview in previews:
            with self.journal.writing():  # another lmdoctor writing the same journal waits: its reads stay true
                try:
                    preview = self._rebase(preview, touched)
                except RemediationError as exc:
                    if not (outcome.applied or outcome.failed or outcome.in_doubt):
                        raise  # nothing written yet: refuse the whole batch
                    outcome.error = str(exc)
                    notify(f"STOPPED: {exc}")
                    break
                if preview.no_op:
                    notify(f"already in place: {preview.action.description}")
                    continue
                notify(f"applying: {preview.action.description}")
                if not self._change(outcome, preview, reason, expires=expires):
                    last = (outcome.failed or outcome.in_doubt)[-1]
                    notify(f"{'FAILED' if last.state == 'failed' else 'IN DOUBT'}: {last.error}")
                    break
            notify(f"read back OK: {preview.action.attribute} of {preview.action.target}")
        if outcome.applied or outcome.ok:  # a purge-only plan (stale tickets) has nothing to apply
            self._purge(outcome, purge_hosts, notify)
        return outcome

    def _rebase(self, preview: ChangePreview,
                touched: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]]) -> ChangePreview:
        """Check the live value against the preview, rebasing a preview of an attribute this batch changed."""
        key = (preview.action.target, preview.action.attribute)
        fresh = self.current(preview.action)
        if key in touched and same(preview.before, touched[key][0]) and same(fresh, touched[key][1]):
            preview = ChangePreview(action=preview.action, before=fresh,
                                    after=self.target_value(preview.action, fresh))
        if not same(fresh, preview.before) and same(self.target_value(preview.action, fresh), fresh):
            # someone (another lmdoctor, say) already made this change: nothing to write, nothing to journal
            preview = ChangePreview(action=preview.action, before=fresh, after=fresh)
        touched[key] = (touched[key][0] if key in touched else preview.before, preview.after)
        if not same(fresh, preview.before):
            raise RemediationError(f"{preview.action.target} {preview.action.attribute} changed since the preview; "
                                   "preview again")
        return preview

    # --- undoing -----------------------------------------------------------------------
    def undoable(self) -> list[JournalEntry]:
        """Applied changes not yet rolled back, oldest first (rollbacks themselves excluded)."""
        latest = self.journal.latest_by_change()
        undone = {e.rollback_of for e in latest.values() if e.rollback_of and e.state in ("applied", "reconciled")}
        return [e for e in latest.values()
                if e.state in ("applied", "reconciled") and not e.rollback_of and e.change_id not in undone]

    def rollback(self, entries: list[JournalEntry], reason: str, notify: Notify | None = None) -> Outcome:
        """Restore each entry's prior value, newest first; refuse an object changed since.

        One writer at a time: entries another process rolled back meanwhile are left out."""
        self._guard()
        notify = notify or (lambda _m: None)
        with self.journal.writing():
            undoable = {e.change_id for e in self.undoable()}
            for entry in entries:
                if entry.change_id not in undoable:
                    notify(f"already rolled back: {entry.action.description}")
            return self._rollback([e for e in entries if e.change_id in undoable], reason, notify)

    def _rollback(self, entries: list[JournalEntry], reason: str, notify: Notify) -> Outcome:
        outcome = Outcome(batch=new_id())
        touched_hosts: list[str | None] = []
        # Check every entry before writing any, following earlier undos of the same attribute.
        expected: dict[tuple[str, str], tuple[str, ...]] = {}
        for entry in sorted(entries, key=lambda e: e.seq, reverse=True):
            key = (entry.action.target, entry.action.attribute)
            current = expected[key] if key in expected else self.current(entry.action)
            if not same(current, entry.after):
                raise RollbackConflict(
                    f"{entry.action.target} {entry.action.attribute} changed since lmdoctor wrote it "
                    f"(expected {list(entry.after)}, found {list(current)}); not rolling back")
            expected[key] = entry.before
        for entry in sorted(entries, key=lambda e: e.seq, reverse=True):
            try:
                current = self.current(entry.action)
            except RemediationError as exc:
                if not outcome.applied:
                    raise
                outcome.error = str(exc)
                notify(f"STOPPED: {exc}")
                break
            if not same(current, entry.after):
                raise RollbackConflict(
                    f"{entry.action.target} {entry.action.attribute} changed since lmdoctor wrote it "
                    f"(expected {list(entry.after)}, found {list(current)}); not rolling back")
            # `current` as read, not as journaled: AD compares these values case-insensitively, so a value
            # whose case was changed since (cifs/ -> CIFS/) is still lmdoctor's, and is removed as it is now spelt
            preview = ChangePreview(action=entry.action, before=current, after=entry.before)
            notify(f"rolling back: {entry.action.description}")
            if not self._change(outcome, preview, reason, rollback_of=entry.change_id):
                last = (outcome.failed or outcome.in_doubt)[-1]
                notify(f"{'FAILED' if last.state == 'failed' else 'IN DOUBT'}: {last.error}")
                break
            touched_hosts.append(self._host_of(entry))
        if outcome.applied:
            self._purge(outcome, self._hyper_v_hosts([h for h in touched_hosts if h], outcome, notify), notify)
        return outcome

    def _hyper_v_hosts(self, names: list[str], outcome: Outcome, notify: Notify) -> list[str]:
        """The names that are Hyper-V hosts (cluster nodes): a purge goes to no other object (the cluster
        name object, a workstation) whose computer account a rollback touched."""
        try:
            nodes = {n.name.upper() for n in self.hosts.cluster_nodes()}
        except HostError as exc:
            outcome.messages.append(f"no klist purge: cannot list the cluster's nodes ({exc})")
            notify(outcome.messages[-1])
            return []
        return [n for n in names if n.upper() in nodes]

    def last_batch(self) -> list[JournalEntry]:
        undoable = self.undoable()
        if not undoable:
            return []
        last = max(undoable, key=lambda e: e.seq).batch
        return [e for e in undoable if e.batch == last]

    def _host_of(self, entry: JournalEntry) -> str | None:
        if entry.action.kind.startswith("host."):
            return entry.action.target
        first = entry.action.target.split(",")[0]
        return first.split("=", 1)[1].upper() if "=" in first else None

    def reconcile(self) -> list[JournalEntry]:
        """Settle intents left without an outcome by reading the object back."""
        settled: list[JournalEntry] = []
        if not self.journal.in_doubt():
            return settled  # the common case: nothing to settle, no lock taken
        with self.journal.writing():  # never settle a change another process is still making
            for entry in self.journal.in_doubt():
                current = self.current(entry.action)
                preview = ChangePreview(action=entry.action, before=entry.before, after=entry.after)
                record = partial(self.journal.record, batch=entry.batch, change_id=entry.change_id, preview=preview,
                                 reason=entry.reason, rollback_of=entry.rollback_of, read_back=current,
                                 expires=entry.expires)
                if same(current, entry.after):
                    settled.append(record(state="reconciled"))
                    continue
                error = "interrupted before the write landed" if same(current, entry.before) \
                    else "interrupted; the object now holds other values"
                settled.append(record(state="failed", error=error))
        return settled
