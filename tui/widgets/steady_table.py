"""A DataTable that keeps its rendered rows when its styles are applied again but did not change.

Textual applies the stylesheet to every widget of a screen each time the screen is shown again (lmdoctor's
screens skip that pass when the app's styles are unchanged: tui/screens/restyle.py), and at a change of theme
or focus; DataTable answers every such pass by dropping all its rendered rows, cells and lines, so a kept screen
(tui/kept_screens.py) rendered each visible row of each of its tables through Rich again at every visit. Here
the rendered rows go only when a style they are painted with did change (a theme, focus or class change), which
is checked when the next line is painted, once the pass is complete.
"""

from __future__ import annotations

from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import DataTable


class SteadyTable(DataTable):
    """DataTable whose rendered rows survive a restyle that changes none of the styles they are painted with,
    and whose columns can be sized to new rows at once (`measure_new_rows`)."""

    _painted_with: tuple[object, ...] | None = None  # the styles of the rows rendered so far
    _restyled = True  # styles were applied since the last paint

    def _current_styles(self) -> tuple[object, ...]:
        """Every style a row is painted with, as values."""
        return (self.rich_style, self.background_colors,
                *(self.get_component_styles(name).rich_style for name in sorted(self.COMPONENT_CLASSES)))

    def notify_style_update(self) -> None:
        Widget.notify_style_update(self)  # not DataTable's yet: the component styles are applied after this call
        self._restyled = True
        self.refresh()

    def render_line(self, y: int) -> Strip:
        """DataTable's, after the rendered rows are dropped if a restyle changed their styles: every line is
        painted through here, so `_painted_with` is current while a row renders."""
        if self._restyled:
            self._restyled = False
            styles = self._current_styles()
            if styles != self._painted_with:
                self._painted_with = styles
                self._drop_rendered()
        return super().render_line(y)

    def _drop_rendered(self) -> None:
        """What DataTable.notify_style_update drops."""
        self._row_render_cache.clear()
        self._cell_render_cache.clear()
        self._row_renderable_cache.clear()
        self._line_cache.clear()
        self._styles_cache.clear()
        self._get_styles_to_render_cell.cache_clear()

    def measure_new_rows(self) -> None:
        """Size the columns to the rows added since the last measure, now. DataTable does it on its next idle,
        so a paint that comes first shows the new rows cut to the columns' old widths (after a `clear`, their
        headers'), and the screen is laid out and painted a second time when the idle comes."""
        if self.is_mounted and self._require_update_dimensions:
            self._require_update_dimensions = False
            new_rows = self._new_rows.copy()
            self._new_rows.clear()
            self._update_dimensions(new_rows)
