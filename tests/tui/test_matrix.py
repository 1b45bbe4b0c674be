"""The delegation matrix in the console: seed cells from the lab definition, a row fix, a 64-node grid."""

from __future__ import annotations

from textual.coordinate import Coordinate
from textual.widgets import DataTable, Static

from lmdoctor.services.backends.lab.scenarios import NODES, build, fqdn
from lmdoctor.services.domain import matrix
from lmdoctor.services.domain.diagnosis import diagnose
from lmdoctor.services.domain.matrix import COVERAGE_GLYPH
from lmdoctor.services.domain.models import VSMS
from lmdoctor.services.domain.spn import for_host, spn_key
from lmdoctor.tui.console import Inventory
from lmdoctor.tui.screens.fix import FixScreen
from lmdoctor.tui.screens.matrix import TONE_STYLE, MatrixScreen
from lmdoctor.tui.screens.node import NodeScreen
from tests.support.snapshots import synthetic
from tests.tui.conftest import FIXED_NOW, settle


def cell(table: DataTable, src: str, dst: str) -> str:
    return table.get_cell(src, dst).plain.strip()


def detail(app) -> str:
    return str(app.screen.query_one("#mx-detail", Static).render())


async def open_matrix(pilot) -> DataTable:
    app = pilot.app
    await settle(pilot, lambda: app.snapshot is not None)
    await pilot.press("x")
    await settle(pilot, lambda: isinstance(app.screen, MatrixScreen))
    return app.screen.query_one(DataTable)


def expected_coverage(lab, src: str, dst: str) -> str:
    """The first two marks of a cell, from the scenario's directory entries."""
    have = {spn_key(v) for v in lab.computer(src).get("msDS-AllowedToDelegateTo", [])}
    marks = ""
    for service in (VSMS, "cifs"):
        found = sum(spn_key(v) in have for v in for_host(service, dst, fqdn(dst)))
        marks += COVERAGE_GLYPH["ok" if found == 2 else "partial" if found else "missing"]
    return marks


async def test_seed_cells_evidence_and_row_fix(demo_app):
    app = demo_app()
    lab = build("seed", FIXED_NOW)
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_matrix(pilot)
        assert table.row_count == len(NODES) and len(table.columns) == len(NODES) + 1
        for src in NODES:
            for dst in NODES:
                if src != dst:
                    assert cell(table, src, dst).startswith(expected_coverage(lab, src, dst) + "P"), (src, dst)
        assert cell(table, "HV01", "HV02") == "○○P✗"  # nothing delegated, and the seed's failed move
        assert cell(table, "HV02", "HV01") == "●●P·"
        assert "11 of 12 pairs may migrate" in str(app.screen.query_one(".status-line").render())

        # The cursor starts on HV01 → HV02: its evidence and exactly its fix.
        assert table.cursor_coordinate == Coordinate(0, 2)
        assert "lacks cifs/HV02.contoso.local" in detail(app) and "Set-ADComputer -Identity 'HV01' -Add" in detail(app)
        await pilot.press("down")  # HV02 → HV02: no pair
        await settle(pilot)
        assert "itself" in detail(app)
        await pilot.press("right")  # HV02 → HV03: fine
        await settle(pilot)
        assert "Nothing to fix" in detail(app) and "has cifs/HV03.contoso.local" in detail(app)
        await pilot.press("f")
        await settle(pilot)
        assert isinstance(app.screen, MatrixScreen)  # nothing to preview

        await pilot.press("up", "r")  # the whole HV01 row in one change
        await settle(pilot, lambda: isinstance(app.screen, FixScreen) and bool(app.screen.previews))
        preview = str(app.screen.query_one("#preview", Static).render())
        assert "1 write(s) to 1 object(s)" in preview and "cifs/HV02.contoso.local" in preview
        await pilot.press(*"CHG-5001", "enter")
        await settle(pilot, lambda: not app.screen.busy and app.screen.wrote)
        await pilot.press("escape")
        await settle(pilot, lambda: isinstance(app.screen, MatrixScreen) and cell(table, "HV01", "HV02").startswith("●●"))
        assert cell(table, "HV01", "HV02") == "●●P✗"  # delegation complete; the last move seen still failed
        assert "12 of 12 pairs may migrate" in str(app.screen.query_one(".status-line").render())
        assert "Nothing to fix" in detail(app)


async def test_column_fix_needs_typed_confirmation(demo_app):
    app = demo_app("kerberos-only")
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_matrix(pilot)
        assert {cell(table, s, d) for s in NODES for d in NODES if s != d} == {"●●k·"}
        await pilot.press("c")  # column HV02: three sources, three objects
        await settle(pilot, lambda: isinstance(app.screen, FixScreen) and bool(app.screen.previews))
        assert "3 object(s)" in str(app.screen.query_one("#preview", Static).render())
        assert not app.screen.query_one("#confirm-word").has_class("hidden")


async def test_a_64_node_grid_renders_and_the_cursor_moves(demo_app):
    app = demo_app()
    big = synthetic(64, lacking=[(0, 63)], kerberos_only=[5])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        app.inventory = Inventory(big, diagnose(big), FIXED_NOW)
        await pilot.press("x")
        await settle(pilot, lambda: isinstance(app.screen, MatrixScreen))
        screen = app.screen
        table = screen.query_one(DataTable)
        assert table.row_count == 64 and len(table.columns) == 65
        assert cell(table, "N001", "N064") == "○○P·" and cell(table, "N006", "N001") == "●●k·"
        await pilot.press(*["down"] * 8, *["right"] * 8)
        await settle(pilot)
        assert table.cursor_coordinate == Coordinate(8, 10)
        assert "N009 → N010" in detail(app)
        await pilot.press("end", "ctrl+end", "pageup")  # last column, last row, one page up
        await settle(pilot)
        assert table.cursor_coordinate.column == 64 and 0 < table.cursor_coordinate.row < 63
        await pilot.press("ctrl+end")
        await settle(pilot)
        assert table.cursor_coordinate == Coordinate(63, 64) and "N064 → itself" in detail(app)
        # Scrolled to the right edge, the painted grid shows the last columns (only columns in view are
        # rendered; a row painted for the first view must not be reused with blanks here).
        painted = [table.render_line(y).text for y in range(table.size.height)]
        assert "N064" in painted[0] and "N063" in painted[0]
        assert any(line.lstrip().startswith("N064") and "●●P·" in line and "─" in line for line in painted)

        # A fresh inventory updates cells in place: the grid is not rebuilt.
        columns_before = list(table.columns)
        fixed = synthetic(64, kerberos_only=[5])
        app.inventory = Inventory(fixed, diagnose(fixed), FIXED_NOW)
        await settle(pilot, lambda: cell(table, "N001", "N064") == "●●P·")
        assert list(table.columns) == columns_before and table.cursor_coordinate.row == 63

        await pilot.press("slash", *"N00")
        await settle(pilot)
        assert table.row_count == 9 and len(table.columns) == 10
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MatrixScreen) and table.row_count == 64


async def test_smb_storage_reds_every_cell_and_names_the_storage_finding(demo_app):
    app = demo_app("smb-storage")
    async with app.run_test(size=(160, 40)) as pilot:
        await open_matrix(pilot)
        assert "0 of 12 pairs may migrate" in str(app.screen.query_one(".status-line").render())
        text = detail(app)
        assert "VMs on SMB shares (APP01 on FS01): HV01 lacks cifs/FS01" in text
        assert "storage.smb_delegation:HV02:FS01" in text


async def test_node_screen_peer_table_uses_the_matrix_verdict(demo_app):
    """HV01's peer table judges each pair as the matrix does: with APP01 on \\\\FS01\\VMs and no node delegating
    to cifs/FS01, every peer is an error naming the storage gap (it was green: the table ignored SMB storage)."""
    app = demo_app("smb-storage")
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, NodeScreen))
        assert app.screen.node_name == "HV01"
        await pilot.press("2")
        await settle(pilot)
        peers = app.screen.query_one("#peer-table DataTable", DataTable)
        shown = {peers.get_row_at(i)[0].plain: peers.get_row_at(i)[1] for i in range(peers.row_count)}
        grid = matrix.matrix(app.snapshot)
        assert set(shown) == {"HV02", "HV03", "HV04"}
        for peer, text in shown.items():
            status = grid[("HV01", peer)]
            assert matrix.tone(status) == "error"
            assert text.plain == "✖ " + status.summary and text.style == TONE_STYLE["error"]
            assert "VMs on SMB shares (APP01 on FS01): HV01 lacks cifs/FS01" in text.plain
