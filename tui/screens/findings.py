"""Everything wrong, with the evidence, the cause and the fix plan; Enter previews the fix."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.widgets import DataTable

from lmdoctor.services.domain.diagnosis import bulk_fixable
from lmdoctor.services.domain.models import Finding
from lmdoctor.tui.keymap import key_of
from lmdoctor.tui.messages import OpenFix
from lmdoctor.tui.screens.base import BaseScreen
from lmdoctor.tui.text import Part, assemble, join_lines
from lmdoctor.tui.widgets.badges import badge
from lmdoctor.tui.widgets.filter_table import FilterTable
from lmdoctor.tui.widgets.plain import Plain


def finding_detail(f: Finding, fix_key: str = "Enter") -> Content:
    """The detail pane's text for one finding: every value shown as text."""
    rows: list[Part] = [(f.message, "b"), (f"{f.code} · {f.id}", "dim"), "", ("Cause", "b u"), f.cause]
    if f.evidence:
        rows += ["", ("Evidence", "b u"), *(f"• {e}" for e in f.evidence)]
    if f.fix:
        rows += ["", assemble(("Fix", "b u"), f" {f.fix.summary}  ", (f" {fix_key} ", "reverse"), " preview and apply")]
        for a in f.fix.actions:
            rows += [f"• {a.description}", assemble("  ", ("PowerShell:", "dim"), " ", (a.powershell, "cyan"))]
            if a.aduc:
                rows.append(assemble("  ", ("ADUC:", "dim"), f" {a.aduc}"))
        if f.fix.purge_hosts:
            rows.append(assemble("• then ", ("klist purge -li 0x3e7", "cyan"), f" on {', '.join(f.fix.purge_hosts)}"))
    elif f.remedy:
        rows += ["", ("Remedy (manual)", "b u"), f.remedy]
    return join_lines(rows)


class FindingsScreen(BaseScreen):
    """Findings of the whole cluster (or one node), worst first."""

    HELP = ("Every finding of the diagnosis: what is wrong, the evidence read from AD and the hosts, "
            "the cause, and the fix plan. Enter previews the fix of the selected finding; "
            "a previews the fixes of all fixable findings in one change.")
    BINDINGS = [
        Binding("enter", "fix", "Preview fix", show=True, id="findings.fix"),
        Binding("a", "fix_all", "Fix all", id="findings.fix_all"),
        Binding("m", "app.open_migrate", "Test Move-VM", id="findings.migrate"),
    ]

    def __init__(self, node: str | None = None, focus: str | None = None) -> None:
        super().__init__()
        self.node = node
        self.focus_id = focus

    def show_finding(self, finding_id: str | None) -> None:
        """Put the cursor on this finding: now if it is listed, else once the findings are (re)rendered."""
        self.focus_id = finding_id
        if finding_id and self.is_mounted:
            self._focus_row()

    def _focus_row(self) -> None:
        table = self.query_one(FilterTable)
        if self.focus_id and self.focus_id in table.table.rows:
            table.table.move_cursor(row=table.table.get_row_index(self.focus_id))
            self.focus_id = None

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        with Horizontal(classes="split"):
            yield FilterTable(("Severity", "Code", "Node", "Finding"), id="findings")
            with VerticalScroll(classes="detail-pane"):
                yield Plain(id="finding-detail", classes="detail")
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        self.query_one(FilterTable).table.focus()
        self.follow_inventory(self.render_findings)

    @property
    def findings(self) -> list[Finding]:
        found = self.app.findings
        if self.node:
            found = [f for f in found if self.node in (f.source, f.target)]
        return found

    def render_findings(self) -> None:
        scope = ((self.node, "b"), " · ") if self.node else ()
        self.set_status(*scope, self.as_of_text())
        rows = [(f.id, (badge(f.severity.value), f.code, f.source or "—", f.message)) for f in self.findings]
        table = self.query_one(FilterTable)
        table.set_rows(rows)
        self._focus_row()
        if not rows:
            detail = (assemble(("No findings: every node may migrate to every other node.", "green"))
                      if self.app.snapshot else "reading…")
            self.query_one("#finding-detail", Plain).update(detail)
        else:
            self._show(table.selected_key)

    def _show(self, finding_id: str | None) -> None:
        f = next((f for f in self.findings if f.id == finding_id), None)
        if f:
            self.query_one("#finding-detail", Plain).update(finding_detail(f, key_of(self, "findings.fix").split(",")[0].title()))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None:
            self._show(event.row_key.value)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_fix()

    def action_fix(self) -> None:
        key = self.query_one(FilterTable).selected_key
        f = next((f for f in self.findings if f.id == key), None)
        if f is None:
            return
        if f.fix is None:
            self.notify(f.remedy or "This finding has no automatic fix.", title="Manual remedy", timeout=8)
            return
        self.post_message(OpenFix([f]))

    def action_fix_all(self) -> None:
        fixable = bulk_fixable(self.findings)
        if not fixable:
            self.notify("Nothing here has an automatic fix (optional cleanups are chosen one by one: Enter).")
            return
        self.post_message(OpenFix(fixable))
