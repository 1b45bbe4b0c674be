"""A DataTable for grids wider than the screen: paints only the columns in view.

Textual's DataTable renders every cell of a visible row through Rich, then crops the line to the view; for
the 64-node matrix (65 columns, ~12 in view) that was ~2 900 cell renders per paint. Here a cell of a
scrollable column wholly outside the view is a blank of its width (cropped away unseen), and rendered rows
are kept per horizontal window, so scrolling sideways renders the columns it brings in.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

SegmentLines = list[list[Segment]]


class WideTable(DataTable):
    """DataTable whose rows render only the scrollable columns that the view shows."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self._in_view: tuple[int, int] = (0, -1)
        self._window_key: tuple[int, int, int] | None = None

    def _view_columns(self) -> tuple[int, int]:
        """Indexes (first, last) of the columns overlapping the view of the scrollable part of a row."""
        columns = self.ordered_columns
        fixed_width = sum(c.get_render_width(self) for c in columns[: self.fixed_columns])
        left = int(self.scroll_x) + fixed_width
        right = int(self.scroll_x) + self.size.width
        first, last, start = len(columns), -1, 0
        for index, column in enumerate(columns):
            end = start + column.get_render_width(self)
            if end > left and start < right:
                first, last = min(first, index), index
            start = end
        return first, last

    def _render_line_in_row(self, row_key: RowKey, line_no: int, base_style: Style,
                            cursor_location: Coordinate, hover_location: Coordinate
                            ) -> tuple[SegmentLines, SegmentLines]:
        window = (int(self.scroll_x), self.size.width, self._update_count)
        if window != self._window_key:  # a row rendered for another window has blanks where this one shows
            self._row_render_cache.clear()
            self._window_key = window
            self._in_view = self._view_columns()
        return super()._render_line_in_row(row_key, line_no, base_style, cursor_location, hover_location)

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False) -> SegmentLines:
        first, last = self._in_view
        if column_index >= self.fixed_columns and not first <= column_index <= last:
            key = None if row_index == -1 else self._row_locations.get_key(row_index)
            height = self.header_height if key is None else self.rows[key].height
            return [[Segment(" " * width)] for _ in range(max(height, 1))]
        return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
