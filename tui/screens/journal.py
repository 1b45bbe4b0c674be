"""The change journal: every write with its prior value, and rollback of the last batch or of everything."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.widgets import DataTable

from lmdoctor.services.domain.models import JournalEntry
from lmdoctor.services.domain.value_diff import diff, same
from lmdoctor.services.operations.remediation import RemediationError
from lmdoctor.services.storage.error_log import describe
from lmdoctor.tui.messages import ClusterChanged
from lmdoctor.tui.screens.base import BaseScreen
from lmdoctor.tui.screens.confirm import ReasonDialog
from lmdoctor.tui.text import Part, assemble, join_lines
from lmdoctor.tui.widgets.filter_table import FilterTable
from lmdoctor.tui.widgets.plain import Plain, PlainLog

STATE_STYLE = {"applied": "green", "reconciled": "green", "failed": "bold red", "intent": "yellow",
               "rolled_back": "cyan", "in_doubt": "bold yellow"}


def _values_diff(before: tuple[str, ...], after: tuple[str, ...]) -> list[Part]:
    """before → after as one line per value: added green, removed red, kept dim."""
    change = diff(before, after)
    lines: list[Part] = [assemble("  ", (f"- {v}", "red")) for v in change.removed]
    lines += [assemble("  ", (f"+ {v}", "green")) for v in change.added]
    if change.kept:
        lines.append(assemble("  ", (f"{len(change.kept)} value(s) unchanged", "dim")))
    return lines or ["  (no change)"]


def entry_detail(e: JournalEntry) -> Content:
    lines: list[Part] = [(f"#{e.seq} {e.action.description}", "b"),
                         f"state: {e.state} · batch {e.batch} · {e.time:%Y-%m-%d %H:%M:%S} UTC",
                         f"reason: {e.reason}", f"target: {e.action.target}",
                         f"attribute: {e.action.attribute}", "before → after:"]
    lines += _values_diff(e.before, e.after)
    if e.read_back is not None:
        ok = same(e.read_back, e.after)
        lines.append(assemble("read back: ", ("matches the intended value", "green") if ok
                              else assemble(("differs:", "b red"), " ", ", ".join(e.read_back) or "(empty)")))
    if e.rollback_of:
        lines.append(f"undoes change {e.rollback_of}")
    if e.error:
        lines.append(assemble(("error:", "b red"), " ", e.error))
    return join_lines(lines)


class JournalScreen(BaseScreen):
    HELP = ("The append-only change journal: the intent of every write (with the prior value) before it is "
            "sent, and its outcome with the read-back value after. u rolls back the last batch, "
            "U every change lmdoctor made; a rollback refuses if someone changed the object since.")
    BINDINGS = [
        Binding("u", "rollback_last", "Undo last batch", id="journal.rollback_last"),
        Binding("U", "rollback_all", "Undo all", key_display="U", id="journal.rollback_all"),
    ]

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        with Horizontal(classes="split"):
            yield FilterTable(("#", "Time (UTC)", "State", "Change", "Reason"), id="journal")
            with VerticalScroll(classes="detail-pane"):
                yield Plain(id="entry-detail", classes="detail")
                yield PlainLog(id="rollback-log", classes="hidden")
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        self.query_one(FilterTable).table.focus()
        self.follow_inventory(self.render_journal)

    def render_journal(self) -> None:
        self.entries = {str(e.seq): e for e in self.app.session.journal.entries()}
        undoable = self.app.session.remediator.undoable()
        self.set_status(f"{len(self.entries)} journal line(s) · {len(undoable)} change(s) can be rolled back · ",
                        self.as_of_text())
        rows = [(k, (k, f"{e.time:%m-%d %H:%M:%S}", Text(e.state, style=STATE_STYLE.get(e.state, "")),
                     e.action.description, e.reason))
                for k, e in reversed(self.entries.items())]
        self.query_one(FilterTable).set_rows(rows)
        if not rows:
            self.query_one("#entry-detail", Plain).update("No changes yet. Fixes you apply are journaled here.")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value in self.entries:
            self.query_one("#entry-detail", Plain).update(entry_detail(self.entries[event.row_key.value]))

    def action_rollback_last(self) -> None:
        self._ask(self.app.session.remediator.last_batch(), "Undo the last batch")

    def action_rollback_all(self) -> None:
        self._ask(self.app.session.remediator.undoable(), "Undo every change lmdoctor made")

    def _ask(self, entries: list[JournalEntry], title: str) -> None:
        if not entries:
            self.notify("Nothing to roll back.")
            return
        if self.app.session.read_only:
            self.notify("Read-only session: nothing will be written.", severity="warning")
            return
        body = "\n".join(f"undo #{e.seq}: {e.action.description}\n    {e.action.attribute}: "
                         f"{', '.join(e.after) or '(empty)'}  →  {', '.join(e.before) or '(empty)'}"
                         for e in sorted(entries, key=lambda e: e.seq, reverse=True))
        body += "\n\nthen klist purge -li 0x3e7 on the affected hosts."

        def answered(reason: str | None) -> None:
            if reason:
                log = self.query_one("#rollback-log", PlainLog)
                log.remove_class("hidden")
                self.rollback(entries, reason, log)

        self.app.push_screen(ReasonDialog(f"{title}: {len(entries)} change(s)", body, "Roll back"), answered)

    @work(thread=True, group="write")  # a write runs to its end: never replaced by the next one
    def rollback(self, entries: list[JournalEntry], reason: str, log: PlainLog) -> None:
        """Undo `entries`, each step written to `log` (looked up before the thread starts)."""
        def note(message: str) -> None:
            self.app.call_from_thread(log.write_line, message)

        try:
            outcome = self.app.session.remediator.rollback(entries, reason, notify=note)
            note(f"rolled back {len(outcome.applied)} change(s)" if outcome.ok
                 else f"FAILED: {outcome.problem}")
        except RemediationError as exc:
            note(f"NOT ROLLED BACK: {exc}")
        except Exception as exc:  # the journal holds what landed
            note(f"FAILED: {describe(exc)}")
        self.app.post_message(ClusterChanged())
