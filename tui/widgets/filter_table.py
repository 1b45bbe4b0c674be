"""A DataTable with a `/` filter box: rows are kept and re-shown as the filter changes."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.widgets import Input

from lmdoctor.tui.text import safe_cell
from lmdoctor.tui.widgets.steady_table import SteadyTable

Lines = tuple[str | Text, ...]  # several values in one cell, each on its own line
Cell = str | Text | Lines  # a str is shown as text, never as markup
Row = tuple[str, Sequence[Cell]]  # the row's key and its cells


def _safe(value: Cell) -> Text:
    """A cell made safe (lmdoctor.tui.text.safe_cell); Lines are put on separate lines, a line feed within a
    value still shown as ␊."""
    if isinstance(value, tuple):
        return Text("\n", end="").join(safe_cell(v) for v in value)
    return safe_cell(value)


class FilterTable(Vertical):
    """Compose once with the columns; call `set_rows`; `/` filters, Esc clears the filter."""

    BINDINGS = [
        Binding("slash", "filter", "Filter", key_display="/", id="list.filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="list.clear_filter"),
    ]
    DEFAULT_CSS = """
    FilterTable { height: 1fr; }
    FilterTable > Input { display: none; height: 3; }
    FilterTable.-filtering > Input { display: block; }
    FilterTable > DataTable { height: 1fr; }
    """

    def __init__(self, columns: Sequence[str], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns = list(columns)
        self._rows: list[tuple[str, Sequence[Text]]] = []

    def compose(self) -> ComposeResult:
        # the filter box is mounted on the first `/`: most lists are never filtered, and an Input is costly to mount
        table = SteadyTable(cursor_type="row", zebra_stripes=True)
        table.add_columns(*(Text(c) for c in self.columns))  # a header is text too: "[…]" is not markup
        yield table

    @property
    def table(self) -> SteadyTable:
        return self.query_one(SteadyTable)

    @property
    def filter_box(self) -> Input | None:
        boxes = self.query(Input)
        return boxes.first() if boxes else None

    @property
    def filter_text(self) -> str:
        box = self.filter_box
        return box.value.strip().lower() if box else ""

    def set_rows(self, rows: Sequence[Row]) -> None:
        """Rows of (key, cells); every cell is made text (lmdoctor.tui.text.safe_cell) before the table sees it."""
        self._rows = [(key, tuple(_safe(c) for c in cells)) for key, cells in rows]
        self._render_rows()

    def _render_rows(self) -> None:
        table = self.table
        selected = self.selected_key
        table.clear()
        needle = self.filter_text
        for key, cells in self._rows:
            text = " ".join(c.plain for c in cells).lower()
            if needle and needle not in text:
                continue
            table.add_row(*cells, key=key, height=max((c.plain.count("\n") + 1 for c in cells), default=1))
        table.measure_new_rows()  # before any paint: never a frame of rows at the header's widths
        if selected is not None and selected in table.rows:
            table.move_cursor(row=table.get_row_index(selected))

    @property
    def selected_key(self) -> str | None:
        table = self.table
        if table.row_count == 0 or table.cursor_row < 0:
            return None
        try:
            return table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
        except Exception:
            return None

    async def action_filter(self) -> None:
        box = self.filter_box
        if box is None:
            box = Input(placeholder="filter… (Esc to clear)")
            await self.mount(box, before=self.table)
        self.add_class("-filtering")
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._render_rows()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.table.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":
            return self.has_class("-filtering")  # otherwise Esc goes on to the screen (back)
        return True

    def action_clear_filter(self) -> None:
        box = self.filter_box
        if box is not None:
            box.value = ""
        self.remove_class("-filtering")
        self._render_rows()
        self.table.focus()
