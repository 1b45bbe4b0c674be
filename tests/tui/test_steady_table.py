"""SteadyTable paints exactly what Textual's DataTable paints, but a restyle that changes nothing (its screen shown
again) renders no cell again, while one that changes a style (theme, focus, a class) renders them all."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.widgets import DataTable, Static

from lmdoctor.tui.widgets.steady_table import SteadyTable

CSS = ".-alarm DataTable { background: #8b0000; }"


def counting(table_class: type[DataTable]) -> type[DataTable]:
    """`table_class` counting the cells it renders (DataTable renders a cell only when it has none kept)."""
    class Counting(table_class):  # type: ignore[valid-type,misc]
        cells_rendered = 0

        def _render_cell(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            type(self).cells_rendered += 1
            return super()._render_cell(*args, **kwargs)

    return Counting


class Tables(Screen):
    """The table's screen, kept between visits as lmdoctor keeps its screens (an installed screen)."""

    def __init__(self, table_class: type[DataTable]) -> None:
        super().__init__()
        self.table_class = table_class

    def compose(self) -> ComposeResult:
        yield Static("above")
        yield self.table_class(cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Node", "State", "Note")
        for i in range(40):
            table.add_row(Text(f"HV{i:02d}", style="bold"), "Up" if i % 3 else Text("Down", style="red"),
                          f"row {i}", key=f"HV{i:02d}")


class Rows(App):
    CSS = CSS

    def __init__(self, table_class: type[DataTable]) -> None:
        super().__init__()
        self.tables = Tables(table_class)

    def on_mount(self) -> None:
        self.install_screen(self.tables, name="tables")
        self.push_screen("tables")


async def painted(table_class: type[DataTable], steps: list[str]) -> tuple[list[list[tuple[object, ...]]], int]:
    """The table's lines after `steps`, and the cells it rendered during the last step."""
    table_class = counting(table_class)
    app = Rows(table_class)
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        table = app.tables.query_one(DataTable)
        table.focus()
        await pilot.pause()
        table.cursor_coordinate = Coordinate(2, 0)
        await pilot.pause()
        table.refresh()  # every row painted with the cursor where it is (a cursor move repaints two rows)
        await pilot.pause(0.1)
        for step in steps:
            table_class.cells_rendered = 0  # type: ignore[attr-defined]
            if step == "visit":  # left, then shown again: Textual applies the styles to each of its widgets
                app.pop_screen()
                await pilot.pause()
                await app.push_screen("tables")
            elif step == "light":
                app.theme = "textual-light"
            elif step in ("blur", "focus"):
                app.set_focus(table if step == "focus" else None)
            elif step == "alarm":
                app.tables.add_class("-alarm")
            elif step == "hover":
                await pilot.hover(DataTable, offset=(5, 6))
            else:
                await pilot.press(step)
            await pilot.pause(0.1)
        cells = table_class.cells_rendered  # type: ignore[attr-defined]
        lines = [[(s.text, s.style, s.control) for s in table.render_line(y)] for y in range(table.size.height)]
        return lines, cells


STEPS = [
    ["visit"],
    ["down", "visit", "down"],
    ["visit", "light"],  # another theme after a visit: every row again
    ["visit", "alarm"],  # a class that changes the table's background
    ["blur", "visit", "focus"],
    ["hover", "visit"],
    ["end", "visit", "pageup"],
]


@pytest.mark.parametrize("steps", STEPS)
async def test_steady_table_paints_what_data_table_paints(steps):
    steady, _ = await painted(SteadyTable, steps)
    assert steady == (await painted(DataTable, steps))[0]


async def test_a_visit_renders_no_cell_again_where_data_table_renders_every_visible_one():
    _, steady_cells = await painted(SteadyTable, ["visit"])
    _, data_table_cells = await painted(DataTable, ["visit"])
    assert steady_cells == 0
    assert data_table_cells >= 3 * 17  # three columns of every row in view (a header and 17 rows of 20 lines)


@pytest.mark.parametrize("step", ["light", "alarm", "blur"])
async def test_a_style_that_changes_renders_the_rows_again(step):
    _, cells = await painted(SteadyTable, ["visit", step])
    assert cells > 0


class Listed(App):
    """A FilterTable whose rows are set again from a handler, as a screen does when an inventory arrives."""

    def compose(self) -> ComposeResult:
        from lmdoctor.tui.widgets.filter_table import FilterTable

        yield FilterTable(("Node", "Note"))


async def test_columns_fit_new_rows_before_any_paint():
    """DataTable sizes its columns to new rows on its next idle; a paint before that (a snapshot, a terminal
    refresh) showed them cut to the header's widths. FilterTable sizes them as it sets them."""
    from lmdoctor.tui.widgets.filter_table import FilterTable

    app = Listed()
    async with app.run_test(size=(100, 20)) as pilot:
        listed = app.query_one(FilterTable)
        listed.set_rows([(f"HV{i}", (f"HV{i:02d}.contoso.local", "x" * (10 + i))) for i in range(5)])
        table = listed.table
        widths = [c.content_width for c in table.ordered_columns]  # no await since: no idle has run
        assert widths == [len("HV00.contoso.local"), 14]
        assert table.virtual_size.width >= sum(widths)
        listed.set_rows([("HV9", ("HV9", "wider note than any before it"))])
        assert table.ordered_columns[1].content_width == len("wider note than any before it")
        await pilot.pause()
        assert [c.content_width for c in table.ordered_columns] == [len("HV00.contoso.local"),
                                                                   len("wider note than any before it")]
