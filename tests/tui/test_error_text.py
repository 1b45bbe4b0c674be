"""The console words an error as the CLI does (lmdoctor.services.storage.error_log.describe): an expected error
by its message, a defect as one line naming the log file that keeps its traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Static

from lmdoctor.services.backends.directory.base import DirectoryError
from lmdoctor.services.storage import error_log, profiles
from lmdoctor.tui.screens.connect import ConnectScreen
from tests.tui.conftest import settle


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LMDOCTOR_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("LMDOCTOR_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


async def status_after_opening(app, pilot) -> str:
    await settle(pilot, lambda: app.snapshot is not None)
    await pilot.press("p")
    await settle(pilot, lambda: isinstance(app.screen, ConnectScreen))
    screen = app.screen
    await settle(pilot, lambda: screen.query_one("#name", Input).value == "other")
    await pilot.press("ctrl+o")
    await settle(pilot, lambda: not screen.connecting and "cannot open" in str(screen.query_one(".status-line", Static).render()))
    return str(screen.query_one(".status-line", Static).render())


@pytest.mark.parametrize("expected", [True, False])
async def test_a_failed_open_shows_the_described_error(demo_app, dirs, monkeypatch, expected):
    profiles.save(profiles.Profile(name="other", domain="contoso.local", dc="dc01.contoso.local",
                                   bind_user="admin@contoso.local", cluster="HVCLUSTER"))
    error = DirectoryError("the DC refused the bind") if expected else AttributeError("'NoneType' has no 'dn'")

    def fail(_profile):
        raise error

    monkeypatch.setattr("lmdoctor.tui.screens.connect.open_profile", fail)
    app = demo_app()
    async with app.run_test(size=(160, 40)) as pilot:
        status = await status_after_opening(app, pilot)
    if expected:
        assert "cannot open other: the DC refused the bind" in status and "DirectoryError" not in status
        assert not error_log.log_path().exists()
    else:
        log = error_log.log_path()
        assert "unexpected error (AttributeError)" in status and "a defect in lmdoctor" in status
        assert "Traceback (most recent call last)" in log.read_text() and "'NoneType' has no 'dn'" in log.read_text()
