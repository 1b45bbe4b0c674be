"""The profiles screen: create and edit profiles validated by the Profile model, passwords only in the OS
keyring, and switching the console to a profile in a worker without blocking the UI."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail
from textual.widgets import Input, Static

from lmdoctor.services.operations.session import open_demo
from lmdoctor.services.storage import profiles
from lmdoctor.tui.screens.connect import ConnectScreen
from lmdoctor.tui.screens.help import HelpScreen
from lmdoctor.tui.screens.nodes import NodesScreen
from tests.tui.conftest import settle

PASSWORD = "S3cret-for-the-keyring!"


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LMDOCTOR_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("LMDOCTOR_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "config"


async def open_connect(app, pilot) -> ConnectScreen:
    await settle(pilot, lambda: app.snapshot is not None)
    await pilot.press("p")
    await settle(pilot, lambda: isinstance(app.screen, ConnectScreen))
    return app.screen


def fill(screen: ConnectScreen, **values: str) -> None:
    for field, value in values.items():
        screen.query_one(f"#{field}", Input).value = value


def error_of(screen: ConnectScreen, field: str) -> str:
    widget = screen.query_one(f"#err-{field}", Static)
    return str(widget.render()) if widget.display else ""


async def save_new_with_password(app, pilot) -> ConnectScreen:
    screen = await open_connect(app, pilot)
    await pilot.press("ctrl+n")
    fill(screen, **GOOD, password=PASSWORD)
    await pilot.press("ctrl+s")
    await settle(pilot)
    return screen


def assert_password_in_no_file(root: Path) -> list[Path]:
    files = [p for p in root.rglob("*") if p.is_file()]
    for path in files:
        assert PASSWORD.encode() not in path.read_bytes(), path
    return files


GOOD = dict(name="prod", domain="contoso.local", dc="dc01.contoso.local", bind_user="admin@contoso.local",
            cluster="hvcluster", nodes="hv01, hv02")


async def test_new_profile_errors_next_to_their_fields_then_saved(demo_app, dirs):
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_connect(app, pilot)
        await pilot.press("ctrl+n")
        fill(screen, **(GOOD | {"dc": "dc 01!", "timeout_s": "999", "bind_user": "a(b)"}))
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "not a valid host name" in error_of(screen, "dc")
        assert "less than or equal to 300" in error_of(screen, "timeout_s")
        assert "user must be" in error_of(screen, "bind_user")
        assert error_of(screen, "domain") == ""
        assert app.focused is screen.query_one("#dc")  # the first field in error
        assert profiles.list_names() == []

        fill(screen, dc="dc01.contoso.local", timeout_s="20", bind_user="admin@contoso.local")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert error_of(screen, "dc") == ""
        saved = profiles.load("prod")
        assert (saved.dc, saved.cluster, saved.nodes, saved.timeout_s) == ("dc01.contoso.local", "HVCLUSTER",
                                                                           ("HV01", "HV02"), 20.0)
        assert screen.query_one("#profiles").table.row_count == 1

        # Edit: the form shows the stored profile; a change is validated and saved in place.
        fill(screen, winrm_user="ops@contoso.local")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert profiles.load("prod").winrm_username == "ops@contoso.local"


async def test_existing_profile_loads_into_the_form(demo_app, dirs):
    profiles.save(profiles.Profile(name="lab2", domain="fabrikam.local", dc="dc9.fabrikam.local",
                                   bind_user="ops@fabrikam.local", cluster="C2", ldap="starttls", read_only=True))
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_connect(app, pilot)
        await settle(pilot, lambda: screen.query_one("#dc", Input).value == "dc9.fabrikam.local")
        assert screen.query_one("#ldap").value == "starttls"
        assert screen.query_one("#read_only").value is True
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, ConnectScreen)


@pytest.mark.keyring
async def test_password_goes_only_to_the_os_keyring(demo_app, dirs, tmp_path):
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await save_new_with_password(app, pilot)
        assert error_of(screen, "password") == ""
        assert screen.query_one("#password", Input).value == ""
    try:
        assert type(keyring.get_keyring()).__name__ == "Keyring"
        assert type(keyring.get_keyring()).__module__ == "keyring.backends.SecretService"
        assert keyring.get_password("lmdoctor", "prod:admin@contoso.local") == PASSWORD
        files = assert_password_in_no_file(tmp_path)
        assert any(p.parent.name == "profiles" for p in files)
    finally:
        keyring.delete_password("lmdoctor", "prod:admin@contoso.local")


async def test_no_usable_keyring_says_so_and_writes_no_password(demo_app, dirs, tmp_path):
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        app = demo_app()
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await save_new_with_password(app, pilot)
            assert "no secure OS keyring" in error_of(screen, "password")
            assert profiles.list_names() == ["prod"]  # the profile (no secret in it) is saved
    finally:
        keyring.set_keyring(previous)
    assert_password_in_no_file(tmp_path)


@pytest.fixture
def silent_dc():
    """A TCP listener that accepts and never answers: a DC that hangs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for s in held:
        s.close()
    server.close()


@pytest.mark.keyring
async def test_unreachable_dc_is_a_clear_error_and_the_ui_stays_responsive(demo_app, dirs, silent_dc):
    profiles.save(profiles.Profile(name="hung", domain="contoso.local", dc="127.0.0.1", ldap_port=silent_dc,
                                   directory_auth="kerberos", bind_user="admin@contoso.local", cluster="C1",
                                   timeout_s=2))
    app = demo_app()
    before = app.session
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_connect(app, pilot)
        await settle(pilot, lambda: screen.query_one("#dc", Input).value == "127.0.0.1")
        await pilot.press("ctrl+o")
        await pilot.pause(0.1)
        assert screen.connecting
        await pilot.press("f1")  # the console answers while the DC hangs
        await pilot.pause(0.1)
        assert isinstance(app.screen, HelpScreen) and screen.connecting
        await pilot.press("escape")
        await settle(pilot, lambda: not screen.connecting, timeout=20)
        status = str(screen.query_one(".status-line", Static).render())
        assert "cannot open hung" in status
        assert app.session is before and isinstance(app.screen, ConnectScreen)


async def test_opening_a_profile_swaps_the_session(demo_app, dirs, tmp_path, monkeypatch):
    """The session opener is replaced by a second lab (scenario healthy): the swap itself is under test."""
    profiles.save(profiles.Profile(name="other", domain="contoso.local", dc="dc01.contoso.local",
                                   bind_user="admin@contoso.local", cluster="HVCLUSTER"))
    from lmdoctor.services.operations import lab_admin as manage
    from tests.tui.conftest import FIXED_NOW

    manage.reset(tmp_path / "lab2", "healthy", now=FIXED_NOW)
    opened = []
    monkeypatch.setattr("lmdoctor.tui.screens.connect.open_profile",
                        lambda p: opened.append(p.name) or open_demo(tmp_path / "lab2", step_delay=0))
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_connect(app, pilot)
        assert app.findings
        await settle(pilot, lambda: screen.query_one("#name", Input).value == "other")
        await pilot.press("ctrl+o")
        await settle(pilot, lambda: app.session.scenario == "healthy" and app.snapshot is not None)
        assert opened == ["other"]
        assert app.findings == [] and app.screen_stack == [app.screen] and isinstance(app.screen, NodesScreen)
        assert "healthy" in app.sub_title
