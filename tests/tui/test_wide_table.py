"""WideTable paints exactly what Textual's DataTable paints (text, colours and the cells' places that mouse clicks
read), though it renders only the columns in view and each distinct cell look once."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Static

from lmdoctor.tui.text import cell
from lmdoctor.tui.widgets.wide_table import WideTable

NAMES = [f"N{i:03d}" for i in range(1, 31)]
TONES = ("green", "dark_orange", "bold red")


def fill(table: DataTable) -> None:
    table.add_column("src \\ dst", key="__source__")
    for name in NAMES:
        table.add_column(cell(name), key=name)
    for i, src in enumerate(NAMES):
        cells = [Text(" ─ ", style="dim") if src == dst else Text(f" ●{'◐○'[j % 2]}P· ", style=TONES[(i + j) % 3])
                 for j, dst in enumerate(NAMES)]
        table.add_row(cell(src, "bold"), *cells, key=src)


class Grid(App):
    def __init__(self, table_class: type[DataTable]) -> None:
        super().__init__()
        self.table_class = table_class

    def compose(self) -> ComposeResult:
        yield Static("above")
        yield self.table_class(cursor_type="cell", fixed_columns=1)

    def on_mount(self) -> None:
        fill(self.query_one(DataTable))


async def painted(table_class: type[DataTable], steps: list[str], focused: bool) -> list[list[tuple[object, ...]]]:
    app = Grid(table_class)
    async with app.run_test(size=(70, 20)) as pilot:
        table = app.query_one(DataTable)
        if focused:
            table.focus()
        else:
            app.set_focus(None)
        await pilot.pause()
        table.cursor_coordinate = Coordinate(2, 3)
        await pilot.pause()
        for step in steps:
            if step == "hover":
                await pilot.hover(DataTable, offset=(20, 5))
            elif step == "wider":
                await pilot.resize_terminal(100, 24)
            elif step == "light":
                app.theme = "textual-light"
            elif step in ("blur", "focus"):
                app.set_focus(table if step == "focus" else None)
            else:
                await pilot.press(step)
            await pilot.pause()
        await pilot.pause()
        return [[(s.text, s.style, s.control) for s in table.render_line(y)] for y in range(table.size.height)]


@pytest.mark.parametrize(("steps", "focused"), [
    ([], False),
    ([], True),
    (["down", "right", "right"], True),
    (["home"], True),  # the cursor on the fixed column
    (["end", "ctrl+end"], True),  # scrolled to the right edge and the bottom
    (["end", "pageup", "left", "left"], True),
    (["hover"], True),
    (["wider"], True),  # rows are kept per width: a wider view paints the columns it brings in
    (["blur", "focus", "right"], True),  # and per style: focus taken away and given back
    (["blur"], True),
    (["right", "light", "down"], True),  # another theme: every look again
])
async def test_wide_table_paints_what_data_table_paints(steps, focused):
    wide = await painted(WideTable, steps, focused)
    assert any("N030" in "".join(str(t) for t, _, _ in line) for line in wide) or "end" not in steps
    assert wide == await painted(DataTable, steps, focused)

