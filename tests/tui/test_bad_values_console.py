"""The console on a lab holding every class of unusable directory and cluster value: the screens that show
accounts, findings and the matrix open without a traceback, and the values set aside are findings."""

from __future__ import annotations

from textual.widgets import DataTable, Static

from lmdoctor.services.operations import lab_admin as manage
from lmdoctor.services.operations.session import open_demo
from lmdoctor.tui.app import LmDoctorApp
from lmdoctor.tui.screens.findings import FindingsScreen
from lmdoctor.tui.screens.node import NodeScreen
from lmdoctor.tui.screens.nodes import NodesScreen
from tests.support.bad_values import CASES, plant
from tests.tui.conftest import FIXED_NOW, settle


async def test_console_shows_bad_values_as_findings_and_every_screen_opens(tmp_path):
    root = tmp_path / "lab"
    manage.reset(root, "seed", now=FIXED_NOW)
    plant(root, *[c for c in CASES if c not in ("dnshostname-port", "node-name-colon")])
    app = LmDoctorApp(open_demo(root, step_delay=0), clock=lambda: FIXED_NOW)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        assert {"directory.bad_value:HV03:-", "host.bad_value:HV␀05:-"} <= {f.id for f in app.findings}
        table = app.screen.query_one(DataTable)
        table.move_cursor(row=2)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, NodeScreen) and app.screen.node_name == "HV03"
        await pilot.press("2")
        await settle(pilot)
        assert "userAccountControl = not readable" in str(app.screen.query_one("#delegation-flags", Static).render())
        await pilot.press("escape", "f")
        await settle(pilot)
        assert isinstance(app.screen, FindingsScreen)
        await pilot.press("escape", "x")
        await settle(pilot)
        await pilot.press("escape", "w")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, NodesScreen)
