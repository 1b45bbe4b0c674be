"""Preview a fix (exact values before → after, PowerShell/ADUC equivalents), confirm with a reason, apply."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input

from lmdoctor.services.domain.fixes import preview_lines
from lmdoctor.services.domain.models import ChangePreview, Finding
from lmdoctor.services.operations.remediation import RemediationError
from lmdoctor.services.storage.error_log import describe
from lmdoctor.tui.keymap import key_hint
from lmdoctor.tui.screens.confirm import checked_reason, reason_fields
from lmdoctor.tui.screens.restyle import RestyleWhenStale
from lmdoctor.tui.text import assemble, typed_lines
from lmdoctor.tui.widgets.plain import Plain, PlainLabel, PlainLog

if TYPE_CHECKING:
    from lmdoctor.tui.console import Console

def preview_text(previews: list[ChangePreview]) -> Content:
    """The previews as text: additions green, removals red, each line styled by its kind."""
    return typed_lines(line for p in previews for line in preview_lines(p))


def blast_radius(previews: list[ChangePreview]) -> int:
    """How many distinct objects (AD objects or hosts) the writes touch."""
    return len({p.action.target for p in previews if not p.no_op})


class FixScreen(RestyleWhenStale[bool], ModalScreen[bool]):
    """Returns True when something was written (the caller refreshes the inventory)."""

    if TYPE_CHECKING:
        app: Console  # the running lmdoctor console, typed for the checker

    BINDINGS = [
        Binding("escape", "close", "Cancel", id="fix.close"),
        Binding("ctrl+s", "apply", "Apply", id="fix.apply"),
    ]

    def __init__(self, findings: list[Finding]) -> None:
        super().__init__()
        self.findings = findings
        self.previews: list[ChangePreview] = []
        self.purge_hosts = sorted({h for f in findings if f.fix for h in f.fix.purge_hosts})
        self.wrote = False
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="fix-dialog"):
            yield PlainLabel(self._title(), classes="dialog-title")
            with VerticalScroll(classes="preview"):
                yield Plain("reading current values…", id="preview")
            yield from reason_fields("Reason / change ticket (required), e.g. CHG-1234 enable live migration")
            yield Input(placeholder="", id="confirm-word", classes="hidden")
            with Horizontal(classes="buttons"):
                yield Button(f"Apply ({key_hint(self, 'fix.apply')})", id="apply", variant="error", disabled=True)
                yield Button(f"Cancel ({key_hint(self, 'fix.close')})", id="cancel")
            yield PlainLog(id="fix-log", classes="hidden")

    def _title(self) -> str:
        if len(self.findings) == 1 and self.findings[0].fix:
            return f"Fix: {self.findings[0].fix.summary}"
        return f"Fix {len(self.findings)} findings"

    def on_mount(self) -> None:
        self.load_preview()

    @work(thread=True)
    def load_preview(self) -> None:
        remediator = self.app.session.remediator
        try:
            previews = [p for f in self.findings if f.fix for p in remediator.preview(f.fix)]
        except Exception as exc:  # shown in the dialog; nothing was written
            self.app.call_from_thread(self._preview_failed, describe(exc))
            return
        self.app.call_from_thread(self._show_preview, previews)

    def _preview_failed(self, error: str) -> None:
        self.query_one("#preview", Plain).update(assemble(("Could not read the current values:", "b red"), " ", error))

    def _show_preview(self, previews: list[ChangePreview]) -> None:
        self.previews = previews
        writes = [p for p in previews if not p.no_op]
        purge = ", ".join(self.purge_hosts) or "no host"
        header = assemble((f"{len(writes)} write(s) to {blast_radius(previews)} object(s), "
                           f"then klist purge -li 0x3e7 on {purge}.", "b"),
                          " Each value is read back after writing and journaled with its prior value "
                          "(undo from the journal, j).\n")
        if self.app.session.read_only:
            header += assemble(("Read-only session: nothing will be written.", "b red"), "\n")
        self.query_one("#preview", Plain).update(assemble(header, "\n", preview_text(previews)))
        if blast_radius(previews) > 1:
            word = self.query_one("#confirm-word", Input)
            word.placeholder = f"This touches {blast_radius(previews)} objects: type APPLY to confirm"
            word.remove_class("hidden")
        self.query_one("#apply", Button).disabled = self.app.session.read_only or not (writes or self.purge_hosts)
        self.query_one("#reason", Input).focus()

    def _confirmed(self) -> str | None:
        reason = checked_reason(self)
        if reason is None:
            return None
        word = self.query_one("#confirm-word", Input)
        if not word.has_class("hidden") and word.value.strip() != "APPLY":
            self.notify("Type APPLY to confirm a change to several objects.", severity="warning")
            word.focus()
            return None
        return reason

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_apply()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "apply":
            self.action_apply()
        else:
            self.action_close()

    def action_apply(self) -> None:
        apply_button = self.query_one("#apply", Button)
        if self.busy or apply_button.disabled:
            return
        reason = self._confirmed()
        if reason is None:
            return
        self.busy = True
        apply_button.disabled = True
        log = self.query_one("#fix-log", PlainLog)
        log.remove_class("hidden")
        self.apply(reason, log)

    @work(thread=True)  # once (self.busy); a write is never replaced by another
    def apply(self, reason: str, log: PlainLog) -> None:
        """Write, read back and journal the previewed changes; each step goes to `log` (looked up before)."""
        def note(message: str) -> None:
            self.app.call_from_thread(log.write_line, message)

        try:
            outcome = self.app.session.remediator.apply(self.previews, reason, self.purge_hosts, notify=note)
        except RemediationError as exc:
            note(f"NOT APPLIED: {exc}")
            self.app.call_from_thread(self._finished, False)
            return
        except Exception as exc:  # a dead DC or host: the journal holds what landed
            note(f"FAILED: {describe(exc)} — see the journal (j) for what landed")
            self.app.call_from_thread(self._finished, True)
            return
        note(f"Done: {len(outcome.applied)} change(s) applied and read back" if outcome.ok
             else f"FAILED: {outcome.problem}")
        self.app.call_from_thread(self._finished, bool(outcome.applied or outcome.purged or outcome.unconfirmed))

    def _finished(self, wrote: bool) -> None:
        self.busy = False
        self.wrote = wrote
        cancel = self.query_one("#cancel", Button)
        cancel.label = f"Close ({key_hint(self, 'fix.close')})"
        cancel.focus()

    def action_close(self) -> None:
        if not self.busy:
            self.dismiss(self.wrote)
