"""The delegation matrix: every source × destination pair as one compact cell, its evidence, and fixes
for a pair, a row, a column or the whole grid in one previewed change."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Input

from lmdoctor.services.domain import fixes, matrix
from lmdoctor.services.domain.matrix import Pair, PairStatus
from lmdoctor.services.domain.models import Snapshot
from lmdoctor.services.storage import move_log as moves
from lmdoctor.services.storage.journal import JournalError
from lmdoctor.tui.keymap import key_hint
from lmdoctor.tui.messages import OpenFix
from lmdoctor.tui.screens.base import BaseScreen
from lmdoctor.tui.text import Part, assemble, cell, join_lines, typed_line
from lmdoctor.tui.widgets.plain import Plain
from lmdoctor.tui.widgets.wide_table import WideTable

TONE_STYLE = {"ok": "green", "warning": "dark_orange", "error": "bold red"}
SELF_LOOK = (" ─ ", "dim")  # a node and itself: no pair


def legend_text() -> Content:
    return assemble(("Cell", "b"), " = VSMS · cifs · transition · last move    " + matrix.LEGEND_SHORT)


def pair_detail(snapshot: Snapshot, status: PairStatus, last: bool | None,
                key: Callable[[str], str]) -> Content:
    """The detail pane for one pair: evidence, then exactly the fix for that pair (`key`: a binding id → its key)."""
    lines: list[Part] = [assemble((f"{status.source} → {status.destination}", "b"), "  ",
                                  (status.summary, TONE_STYLE[matrix.tone(status)])), ""]
    lines += [typed_line(line) for line in matrix.evidence(snapshot, status, last)[1:]]  # [0]: the header above
    plans = matrix.fix_findings(snapshot, [(status.source, status.destination)])
    fix_key = f" {key('matrix.fix_pair')} "
    lines += ["", assemble(("Fix for this pair", "b u"), *(("  ", (fix_key, "reverse"), " preview and apply")
                                                          if plans else ()))]
    if not plans:
        lines.append(("Nothing to fix: the source may delegate to every service, with any protocol.", "green"))
    for plan in (finding.fix for finding in plans if finding.fix):
        for action in plan.actions:
            lines += [f"• {action.description}", assemble("  ", (action.powershell, "cyan"))]
        lines += [assemble("• then ", (fixes.purge_tickets_command(h), "cyan")) for h in plan.purge_hosts]
    lines += ["", (f"{key('matrix.fix_row')} fixes the row (this source), {key('matrix.fix_column')} the column "
                   f"(this destination), {key('matrix.fix_grid')} the whole grid", "dim")]
    return join_lines(lines)


class MatrixScreen(BaseScreen):
    HELP = ("Who may live-migrate to whom: rows are sources, columns destinations. Each cell has four marks: "
            "the source's delegation to the destination's Microsoft Virtual System Migration Service and cifs "
            "(short name and FQDN: ● both, ◐ one, ○ none), protocol transition (P any protocol, k Kerberos only, "
            "U unconstrained), and the last move — lmdoctor's test moves and the source's events — (✓ passed, "
            "✗ failed, · unknown). "
            "Move the cursor to see a pair's evidence and fix; f fixes the pair, r the row, c the column, a the "
            "grid — one previewed change each.")
    BINDINGS = [
        Binding("f", "fix('pair')", "Fix pair", id="matrix.fix_pair"),
        Binding("r", "fix('row')", "Fix row", id="matrix.fix_row"),
        Binding("c", "fix('column')", "Fix column", id="matrix.fix_column"),
        Binding("a", "fix('grid')", "Fix grid", id="matrix.fix_grid"),
        Binding("slash", "filter", "Filter", key_display="/", id="matrix.filter"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.statuses: dict[Pair, PairStatus] = {}
        self.moves: dict[Pair, bool] = {}
        self.cells: dict[Pair, tuple[str, str]] = {}
        self.grid_names: tuple[str, ...] | None = None

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield Plain(legend_text(), id="mx-legend")
        yield Input(placeholder="show nodes whose name contains… (Esc clears)", id="mx-filter", classes="hidden")
        with Horizontal(classes="split"):
            with Vertical(id="mx-grid"):
                yield WideTable(cursor_type="cell", fixed_columns=1, id="matrix")
            with VerticalScroll(classes="detail-pane", id="mx-pane"):
                yield Plain("reading…", id="mx-detail", classes="detail")
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        self.set_focus(self.query_one(DataTable))  # now, not after the first paint: focus restyles the whole grid
        self.follow_inventory(self.render_matrix)

    # --- the grid ---------------------------------------------------------------------------
    @property
    def filter_text(self) -> str:
        return self.query_one("#mx-filter", Input).value.strip().upper()

    def _shown(self, snapshot: Snapshot) -> tuple[str, ...]:
        needle = self.filter_text
        return tuple(n.name for n in snapshot.nodes if needle in n.name)

    def render_matrix(self) -> None:
        snapshot = self.app.snapshot
        if snapshot is None:
            self.set_status(self.as_of_text())
            return
        self.statuses = matrix.matrix(snapshot)
        try:
            records = moves.history(self.app.session.journal)
        except JournalError:  # a damaged log: the events still tell
            records = []
        self.moves = matrix.last_moves(snapshot, records)
        broken = sum(not s.ok for s in self.statuses.values())
        self.set_status(f"{len(self.statuses) - broken} of {len(self.statuses)} pairs may migrate · ",
                        self.as_of_text())
        shown = self._shown(snapshot)
        if shown != self.grid_names:
            self._build(shown)
            self.grid_names = shown
        else:
            self._update_cells(shown)
        self._show_cursor()

    def _look(self, key: Pair) -> tuple[str, str]:
        """A cell's text and style: its marks, coloured by the pair's verdict."""
        status = self.statuses.get(key)
        if status is None:
            return SELF_LOOK
        return f" {matrix.glyph(status, self.moves.get(key))} ", TONE_STYLE[matrix.tone(status)]

    def _build(self, names: tuple[str, ...]) -> None:
        """Columns and rows once per set of nodes; later inventories only update changed cells."""
        table = self.query_one(WideTable)
        cursor = table.cursor_coordinate
        table.clear(columns=True)
        table.add_column("src \\ dst", key="__source__")
        for name in names:
            table.add_column(cell(name), key=name)
        self.cells = {}
        texts: dict[tuple[str, str], Text] = {}  # a handful of looks: cells showing the same one share its Text
        for src in names:
            cells = []
            for dst in names:
                look = self.cells[(src, dst)] = self._look((src, dst))
                if look not in texts:
                    texts[look] = Text(look[0], style=look[1])
                cells.append(texts[look])
            table.add_row(cell(src, "bold"), *cells, key=src)
        table.measure_new_rows()
        if names:  # keep the cursor where it was; the first time, on the first real pair
            column = cursor.column if cursor.column > 0 else min(2, len(names))
            table.cursor_coordinate = Coordinate(min(cursor.row, len(names) - 1), min(column, len(names)))

    def _update_cells(self, names: tuple[str, ...]) -> None:
        table = self.query_one(DataTable)
        for src in names:
            for dst in names:
                look = self._look((src, dst))
                if self.cells.get((src, dst)) != look:
                    self.cells[(src, dst)] = look
                    table.update_cell(src, dst, Text(look[0], style=look[1]))

    def selected_pair(self) -> tuple[str, str | None] | None:
        """The (source, destination) under the cursor; destination None on the source column."""
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        try:
            keys = table.coordinate_to_cell_key(table.cursor_coordinate)
        except Exception:
            return None
        src, dst = keys.row_key.value, keys.column_key.value
        if src is None:
            return None
        return (src, dst) if dst != "__source__" else (src, None)

    def _show_cursor(self) -> None:
        snapshot, chosen = self.app.snapshot, self.selected_pair()
        detail = self.query_one("#mx-detail", Plain)
        if snapshot is None or chosen is None:
            detail.update("No nodes." if snapshot else "reading…")
            return
        src, dst = chosen
        status = self.statuses.get((src, dst)) if dst else None
        if dst is None or status is None:
            detail.update(assemble((src, "b"), " → itself: a node does not migrate to itself." if dst else
                                   ": move right to a destination. r fixes this whole row."))
            return
        detail.update(pair_detail(snapshot, status, self.moves.get((src, dst)), partial(key_hint, self)))

    def on_data_table_cell_highlighted(self, _: DataTable.CellHighlighted) -> None:
        self._show_cursor()

    def on_data_table_cell_selected(self, event: DataTable.CellSelected) -> None:
        event.stop()
        self._show_cursor()

    # --- fixing -----------------------------------------------------------------------------
    def action_fix(self, scope: str) -> None:
        snapshot, chosen = self.app.snapshot, self.selected_pair()
        if snapshot is None:
            return
        src, dst = chosen or (None, None)
        if scope == "pair":
            pairs = [(src, dst)] if src and dst else []
        elif scope == "row":
            pairs = matrix.row(snapshot, src) if src else []
        elif scope == "column":
            pairs = matrix.column(snapshot, dst) if dst else []
        else:
            pairs = matrix.every_pair(snapshot)
        plans = matrix.fix_findings(snapshot, pairs)
        if not plans:
            self.notify(f"Nothing to fix in this {scope}: every pair in it may delegate with any protocol.")
            return
        self.post_message(OpenFix(plans))

    # --- filter -----------------------------------------------------------------------------
    def action_filter(self) -> None:
        box = self.query_one("#mx-filter", Input)
        box.remove_class("hidden")
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.render_matrix()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one(DataTable).focus()

    @property
    def filtering(self) -> bool:
        return not self.query_one("#mx-filter", Input).has_class("hidden")

    def action_back(self) -> None:
        """Esc clears the filter first, then goes back."""
        if not self.filtering:
            super().action_back()
            return
        box = self.query_one("#mx-filter", Input)
        box.value = ""
        box.add_class("hidden")
        self.render_matrix()
        self.query_one(DataTable).focus()
