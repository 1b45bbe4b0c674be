"""A DataTable for grids wider than the screen, with few distinct cells: paints only the columns in view, and
renders each distinct cell look once.

Textual's DataTable renders every cell of a visible row through Rich (a Padding in a Styled per cell, cached
per row, column and update), then crops the line to the view; for the 64-node matrix (65 columns, ~12 in view)
that was ~2 900 cell renders per paint. Here:

- the scrollable columns wholly outside the view are one blank (cropped away unseen), and rows are rendered
  per horizontal window, so scrolling sideways renders the columns it brings in;
- a single-line cell is rendered through Rich exactly as DataTable renders it, but once per look (text, styles,
  width, cursor and hover state), the cell's own place (the row/column meta that mouse clicks read) added
  to those segments afterwards; the matrix has a handful of looks for its 4 160 cells;
- single-line text cells are measured by their plain text's width (what Rich's measurement returns), once
  per distinct text, instead of through Rich per cell.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.cells import cell_len
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.color import Color
from textual.coordinate import Coordinate
from textual.geometry import Size
from textual.render import measure
from textual.renderables.styled import Styled
from textual.widgets.data_table import RowKey

from lmdoctor.tui.widgets.steady_table import SteadyTable

SegmentLines = list[list[Segment]]
TextLook = tuple[str, object, tuple[object, ...], object, object, object]


def _text_look(text: Text) -> TextLook:
    """Everything of a Text that its rendering depends on."""
    return text.plain, text.style, tuple(text.spans), text.justify, text.overflow, text.no_wrap


class WideTable(SteadyTable):
    """DataTable whose rows render only the scrollable columns in view, each distinct cell look once."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self._in_view: tuple[int, int] = (0, -1)
        self._window_key: tuple[int, int, int] | None = None
        self._resizes = 0  # DataTable counts a resize as an update; rows here are rendered per width anyway
        self._rows: dict[tuple[object, ...], tuple[SegmentLines, SegmentLines]] = {}
        self._looks: dict[tuple[object, ...], SegmentLines] = {}
        self._places: dict[tuple[int, int], Style] = {}
        self._widths: dict[str, int] = {}
        super().__init__(*args, **kwargs)

    def _on_resize(self, _: events.Resize) -> None:  # DataTable's own runs too
        self._resizes += 1

    @property
    def _content_version(self) -> int:
        """DataTable's update count without its resizes: changes when a cell, row or column does."""
        return self._update_count - self._resizes

    # --- which columns are in view ----------------------------------------------------------
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

    # --- rows -------------------------------------------------------------------------------
    def _render_line_in_row(self, row_key: RowKey, line_no: int, base_style: Style,
                            cursor_location: Coordinate, hover_location: Coordinate
                            ) -> tuple[SegmentLines, SegmentLines]:
        window = (int(self.scroll_x), self.size.width, self._content_version)
        if window != self._window_key:  # a row rendered for another window has blanks where this one shows
            self._row_render_cache.clear()
            self._rows.clear()
            self._window_key = window
            self._in_view = self._view_columns()
        if self._labelled_row_exists or self.cursor_type != "cell":
            return super()._render_line_in_row(row_key, line_no, base_style, cursor_location, hover_location)
        row_index = self._row_locations.get(row_key)
        row_index = -1 if row_index is None else row_index
        # Kept by what the row shows: the cursor and the hover only where they are on this row.
        cache_key = (row_key, line_no, base_style, cursor_location if cursor_location.row == row_index else None,
                     hover_location if hover_location.row == row_index else None, self.show_cursor,
                     self._show_hover_cursor, self._pseudo_class_state, self._painted_with)
        cached = self._rows.get(cache_key)
        if cached is not None:
            return cached
        columns = self.ordered_columns
        widths = [column.get_render_width(self) for column in columns]
        header_style = self.get_component_styles("datatable--header").rich_style
        if row_key is self._header_row_key:
            fixed_style = header_style
        else:
            fixed_style = self.get_component_styles("datatable--fixed").rich_style + Style.from_meta({"fixed": True})

        def cell_line(column_index: int, style: Style) -> list[Segment]:
            at = Coordinate(row_index, column_index)
            return self._render_cell(row_index, column_index, style, widths[column_index],
                                     cursor=cursor_location == at, hover=hover_location == at)[line_no]

        fixed_row = [cell_line(index, fixed_style) for index in range(min(self.fixed_columns, len(columns)))]
        row_style = self._get_row_style(row_index, base_style)
        first, last = self._in_view
        first, last = max(first, 0), min(last, len(columns) - 1)
        scrollable_row: SegmentLines = []
        if first > last:  # nothing scrollable in view
            first = last = len(columns)
        before, after = sum(widths[:first]), sum(widths[last + 1:])
        scrollable_row += [[Segment(" " * before)]] if before else []
        scrollable_row += [cell_line(index, row_style) for index in range(first, last + 1)]
        scrollable_row += [[Segment(" " * after)]] if after else []

        # As DataTable: the row's style carried on to the widget's right edge, faded when it has a background.
        remaining_space = max(0, self.size.width - sum(widths[self.fixed_columns:]))
        if row_style.bgcolor is not None:
            faded = Color.from_rich_color(row_style.bgcolor).blend(self.background_colors[1], factor=0.25)
            extend_style = Style.from_color(color=row_style.color, bgcolor=faded.rich_color)
        else:
            extend_style = Style.from_color(row_style.color, row_style.bgcolor)
        extend_style += Style.from_meta({"row": row_index, "column": 0, "out_of_bounds": True})
        scrollable_row.append([Segment(" " * remaining_space, extend_style)])
        row_pair = (fixed_row, scrollable_row)
        if len(self._rows) > 4 * len(self._row_locations) + 64:  # cursor and hover states of rows seen before
            self._rows.clear()
        self._rows[cache_key] = row_pair
        return row_pair

    # --- cells ------------------------------------------------------------------------------
    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False) -> SegmentLines:
        is_header = row_index == -1
        row_key = self._header_row_key if is_header else self._row_locations.get_key(row_index)
        if row_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        height = self.header_height if is_header else self.rows[row_key].height
        first, last = self._in_view
        if column_index >= self.fixed_columns and not first <= column_index <= last:
            return [[Segment(" " * width)] for _ in range(max(height, 1))]
        column_key = self._column_locations.get_key(column_index)
        if column_key is None:  # the row labels' column
            content = None
        else:
            content = self.columns[column_key].label if is_header else self._data[row_key].get(column_key)
        if height != 1 or not isinstance(content, Text):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        fixed_look = not is_header and (row_index < self.fixed_rows or column_index < self.fixed_columns)
        state = (is_header, fixed_look, hover, cursor, self.show_cursor, self._show_hover_cursor,
                 self.cursor_foreground_priority == "css", self.cursor_background_priority == "css")
        look = (_text_look(content), base_style, width, state, self._pseudo_class_state, self._painted_with)
        lines = self._looks.get(look)
        if lines is None:
            if len(self._looks) > 4096:
                self._looks.clear()
            component_style, post_style = self._get_styles_to_render_cell(is_header, False, *state[1:])
            lines = self._plain_look(content, base_style + component_style, post_style, width)
            if lines is None:
                options = self.app.console_options.update_dimensions(width, 1).update(no_wrap=True)
                lines = self.app.console.render_lines(
                    Styled(Padding(content, (0, self.cell_padding)), pre_style=base_style + component_style,
                           post_style=post_style), options)
            self._looks[look] = lines
        place = self._places.get((row_index, column_index))
        if place is None:
            place = self._places[(row_index, column_index)] = Style.from_meta({"row": row_index,
                                                                             "column": column_index})
        return [[Segment(text, style + place if style else place, control) for text, style, control in line]
                for line in lines]

    def _plain_look(self, content: Text, pre_style: Style, post_style: Style, width: int) -> SegmentLines | None:
        """What Rich renders for a padded one-line Text of one style that fits the width (the node names, the
        marks), built directly; None for any other Text, which Rich renders."""
        plain, pad = content.plain, self.cell_padding
        room = width - 2 * pad - cell_len(plain)
        if content.spans or room < 0 or not plain.isprintable() or content.justify not in (None, "default", "left"):
            return None
        fill = pre_style + post_style
        if not plain:
            return [[Segment(" " * width, fill)]]
        style = pre_style + self.app.console.get_style(content.style) + post_style
        return [[Segment(" " * pad, fill), Segment(plain, style), Segment(" " * (room + pad), fill)]]

    # --- measuring --------------------------------------------------------------------------
    def _width(self, renderable: object) -> int:
        """What Rich's measurement gives (its maximum), for a Text by its plain text's widest line."""
        if not isinstance(renderable, Text):
            return measure(self.app.console, renderable, 1)  # type: ignore[arg-type]
        plain = renderable.plain
        width = self._widths.get(plain)
        if width is None:
            width = self._widths[plain] = max((cell_len(line) for line in plain.splitlines()), default=0)
        return width

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """DataTable's, with cells measured by `_width`; rows of automatic height still go through DataTable."""
        new_rows = list(new_rows)
        if any(row.auto_height for key in new_rows if (row := self.rows.get(key)) is not None):
            super()._update_dimensions(new_rows)
            return
        columns = self.ordered_columns
        for row_key in new_rows:
            row_index = self._row_locations.get(row_key)
            if row_index is None:  # removed before the idle that measures it
                continue
            if self.rows[row_key].label is not None:
                self._labelled_row_exists = True
            row_label, cells = self._get_row_renderables(row_index)
            if row_label:
                self._label_column.content_width = max(self._label_column.content_width, self._width(row_label))
            for column, renderable in zip(columns, cells, strict=False):
                column.content_width = max(column.content_width, self._width(renderable))
        header_height = self.header_height if self.show_header else 0
        self.virtual_size = Size(sum(c.get_render_width(self) for c in self.columns.values())
                                 + self._row_label_column_width, self._total_row_height + header_height)
