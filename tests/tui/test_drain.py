"""The drain screen: one key from the nodes screen, per-VM placement and blockers with the fixing finding."""

from __future__ import annotations

from textual.widgets import DataTable, Static

from lmdoctor.tui.screens.drain import DrainScreen
from tests.tui.conftest import settle


async def open_drain(pilot) -> DataTable:
    app = pilot.app
    await settle(pilot, lambda: app.snapshot is not None)
    await pilot.press("d")  # the cursor starts on HV01
    await settle(pilot, lambda: isinstance(app.screen, DrainScreen))
    return app.screen.query_one("#drain-table DataTable", DataTable)


async def test_seed_drain_goes_around_the_missing_delegation(demo_app):
    app = demo_app("seed")
    async with app.run_test(size=(160, 36)) as pilot:
        table = await open_drain(pilot)
        assert app.screen.node_name == "HV01"
        verdict = str(app.screen.query_one("#drain-verdict", Static).render())
        assert "HV01 can be drained: 2 of 2 VM(s) placed" in verdict
        assert table.get_cell("APP01", table.ordered_columns[3].key).plain == "HV03"
        blockers = table.get_cell("APP01", table.ordered_columns[4].key).plain
        assert blockers.startswith("HV02: HV01 → HV02: 4 of 4 services missing")
        assert blockers.endswith(" [delegation.missing:HV01:HV02]")
        await pilot.press("escape")
        await settle(pilot, lambda: not isinstance(app.screen, DrainScreen))


async def test_no_headroom_is_shown_as_blocked(demo_app):
    app = demo_app("drain-no-headroom")
    async with app.run_test(size=(160, 36)) as pilot:
        table = await open_drain(pilot)
        assert "HV01 cannot be drained: 1 of 2 VM(s) placed" in str(
            app.screen.query_one("#drain-verdict", Static).render())
        assert table.get_cell("APP01", table.ordered_columns[3].key).plain == "nowhere"
        assert "HV02 has 6.0 GiB free" in table.get_cell("APP01", table.ordered_columns[4].key).plain


async def test_smb_storage_blocks_the_vm_on_the_share_with_its_finding(demo_app):
    app = demo_app("smb-storage")
    async with app.run_test(size=(160, 36)) as pilot:
        table = await open_drain(pilot)
        assert "HV01 cannot be drained: 1 of 2 VM(s) placed" in str(
            app.screen.query_one("#drain-verdict", Static).render())
        assert table.get_cell("APP01", table.ordered_columns[3].key).plain == "nowhere"
        blockers = table.get_cell("APP01", table.ordered_columns[4].key).plain
        assert "APP01's files are on FS01's shares and HV01 (the source) lacks cifs/FS01" in blockers
        assert blockers.endswith(" [storage.smb_delegation:HV01:FS01]")
        assert table.get_cell("APP02", table.ordered_columns[3].key).plain == "HV02"


async def test_column_headers_are_text_not_markup(demo_app):
    app = demo_app("seed")
    async with app.run_test(size=(160, 36)) as pilot:
        table = await open_drain(pilot)
        assert str(table.ordered_columns[4].label) == "Blockers (destination: reason [finding that fixes it])"


async def test_the_hosts_compare_vm_words_are_shown_with_their_message_id(demo_app):
    """drain-switch: only Compare-VM knows APP01's switch 'Production' is missing on every peer."""
    app = demo_app("drain-switch")
    async with app.run_test(size=(160, 36)) as pilot:
        table = await open_drain(pilot)
        await settle(pilot, lambda: "Compare-VM: 4 pair(s) asked" in str(  # APP01 of every peer, APP02 of HV02
            app.screen.query_one(".status-line", Static).render()))
        assert "HV01 cannot be drained: 1 of 2 VM(s) placed" in str(
            app.screen.query_one("#drain-verdict", Static).render())
        blockers = table.get_cell("APP01", table.ordered_columns[4].key).plain.split("\n")  # one per line
        assert blockers == [f"{d}: Compare-VM 33012: Could not find Ethernet switch 'Production'."
                            for d in ("HV02", "HV03", "HV04")]
        assert table.get_cell("APP02", table.ordered_columns[3].key).plain == "HV02"


async def test_several_blockers_are_separate_lines_of_one_cell(demo_app):
    """APP01 fits on no node: one line per destination in its blockers cell (our line breaks, not a ␊ stand-in),
    and the row is as tall as its lines."""
    app = demo_app("drain-no-headroom")
    async with app.run_test(size=(160, 36)) as pilot:
        table = await open_drain(pilot)
        lines = table.get_cell("APP01", table.ordered_columns[4].key).plain.split("\n")
        assert len(lines) == 6 and {line.split(":", 1)[0] for line in lines} == {"HV02", "HV03", "HV04"}, lines
        assert "HV02: Compare-VM 40010: 'APP01' could not initialize memory" in lines[0]
        assert not any("␊" in line for line in lines)
        assert next(row for key, row in table.rows.items() if key.value == "APP01").height == 6
