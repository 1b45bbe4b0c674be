"""Keyboard conventions: ':' palette, '/' filter on list screens, themes saved in console.toml, a keymap
override by binding id with clear errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from textual.binding import Binding
from textual.command import CommandPalette
from textual.widgets import Button, Input

from lmdoctor.services.storage import config
from lmdoctor.tui import keymap
from lmdoctor.tui.screens.connect import ConnectScreen
from lmdoctor.tui.screens.findings import FindingsScreen
from lmdoctor.tui.screens.help import HelpScreen, key_lines
from lmdoctor.tui.screens.journal import JournalScreen
from lmdoctor.tui.screens.migrate import MigrateScreen
from lmdoctor.tui.screens.nodes import NodesScreen
from lmdoctor.tui.widgets.filter_table import FilterTable
from tests.tui.conftest import settle


@pytest.fixture
def conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LMDOCTOR_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path / "config" / "console.toml"


def errors(app) -> list[str]:
    return [n.message for n in app._notifications if n.severity == "error"]


@pytest.mark.parametrize("key,screen_type", [("f", FindingsScreen), ("j", JournalScreen), ("m", MigrateScreen),
                                             ("p", ConnectScreen)])
async def test_colon_opens_the_palette_everywhere(demo_app, conf, key, screen_type):
    app = demo_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        await pilot.press(key)
        await settle(pilot)
        assert isinstance(app.screen, screen_type)
        app.set_focus(None)  # not typing in a field
        await pilot.press("colon")
        await settle(pilot, lambda: isinstance(app.screen, CommandPalette))
        assert isinstance(app.screen_stack[-2], screen_type)  # over the screen it was opened on
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, screen_type)


@pytest.mark.parametrize("key,screen_type", [(None, NodesScreen), ("f", FindingsScreen), ("j", JournalScreen)])
async def test_slash_filters_every_list_screen(demo_app, conf, key, screen_type):
    app = demo_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        if key:
            await pilot.press(key)
            await settle(pilot)
        assert isinstance(app.screen, screen_type)
        await pilot.press("slash")
        await settle(pilot)
        table = app.screen.query_one(FilterTable)
        assert app.focused is table.query_one(Input)
        await pilot.press(*"zzz-nothing")
        await settle(pilot)
        assert table.table.row_count == 0
        await pilot.press("escape")  # clears the filter, stays on the screen
        await settle(pilot)
        assert isinstance(app.screen, screen_type) and not table.filter_text


async def test_theme_cycles_and_is_saved(demo_app, conf):
    app = demo_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        assert app.theme == "textual-dark"
        await pilot.press("ctrl+t")
        await settle(pilot)
        assert app.theme == "textual-light"
    assert tomllib.loads(conf.read_text())["theme"] == "textual-light"
    again = demo_app()
    async with again.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert again.theme == "textual-light"


async def test_keymap_override_by_binding_id(demo_app, conf):
    conf.parent.mkdir(parents=True)
    conf.write_text('[keymap]\n"nodes.findings" = "F"\n"app.help" = "f2"\n')
    app = demo_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        assert errors(app) == []
        await pilot.press("f")
        await settle(pilot)
        assert isinstance(app.screen, NodesScreen)
        await pilot.press("f2")  # help, remapped: it shows the remapped key
        await settle(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert ("F", "Findings") in key_lines(app.screen.for_screen)
        await pilot.press("escape", "F")
        await settle(pilot, lambda: isinstance(app.screen, FindingsScreen))


async def test_unknown_binding_id_is_named(demo_app, conf):
    conf.parent.mkdir(parents=True)
    conf.write_text('theme = "nord"\n[keymap]\n"nodes.findngs" = "F"\n"nodes.journal" = "J"\n')
    app = demo_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        (message,) = errors(app)
        assert "nodes.findngs" in message and "nodes.findings" in message  # the typo and the known ids
        assert app.theme == "nord"
        await pilot.press("J")  # the known override still applies
        await settle(pilot, lambda: isinstance(app.screen, JournalScreen))


@pytest.mark.parametrize("text,expected", [
    ("theme = ", "not valid TOML"),
    ("colour = 'red'\n", "colour: Extra inputs are not permitted"),
    ("[keymap]\n'nodes.findings' = 'F F'\n", "keymap: Value error, nodes.findings"),
])
async def test_invalid_console_config_is_one_clear_error(demo_app, conf, text, expected):
    conf.parent.mkdir(parents=True)
    conf.write_text(text)
    app = demo_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        (message,) = errors(app)
        assert expected in message and str(conf) in message
    with pytest.raises(config.ConfigError):
        config.save_theme("nord", conf)  # a broken file is not overwritten
    assert conf.read_text() == text


def test_every_binding_id_is_unique_per_key_and_named():
    from lmdoctor.tui.app import LmDoctorApp

    ids = keymap.binding_ids(LmDoctorApp.__new__(LmDoctorApp))
    assert {"app.help", "app.palette", "app.theme", "nodes.findings", "list.filter", "connect.save"} <= set(ids)
    assert ids["app.palette"] == "colon"


def test_next_theme_wraps():
    assert keymap.next_theme("textual-dark", ["textual-dark", "nord"]) == "nord"
    assert keymap.next_theme("nord", ["textual-dark", "nord"]) == "textual-dark"
    assert keymap.next_theme("unknown", ["textual-dark", "nord"]) == "textual-dark"


def test_walkthrough_and_matrix_keys_have_ids_for_the_keymap() -> None:
    from lmdoctor.tui.screens.matrix import MatrixScreen
    from lmdoctor.tui.screens.walkthrough import WalkthroughScreen

    for screen in (WalkthroughScreen, MatrixScreen):
        missing = [b.key for b in screen.BINDINGS if isinstance(b, Binding) and not b.id]
        assert missing == [], f"{screen.__name__} bindings without an id: {missing}"


async def test_the_status_line_names_the_refresh_key_console_toml_chose(demo_app, conf):
    conf.parent.mkdir(parents=True)
    conf.write_text('[keymap]\n"app.refresh" = "f5"\n')
    app = demo_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        await settle(pilot)
        status = str(app.screen.query_one(".status-line").render())
        assert "f5 refresh" in status and "ctrl+r" not in status


async def test_buttons_and_status_hints_name_the_keys_console_toml_chose(demo_app, conf):
    conf.parent.mkdir(parents=True)
    conf.write_text('[keymap]\n"migrate.move" = "v"\n"connect.save" = "f2"\n')
    app = demo_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        await pilot.press("m")
        await settle(pilot, lambda: isinstance(app.screen, MigrateScreen))
        assert str(app.screen.query_one("#move", Button).label) == "Move and verify (v)"
        assert str(app.screen.query_one("#preflight", Button).label) == "Pre-flight -WhatIf (w)"  # not remapped
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot, lambda: isinstance(app.screen, ConnectScreen))
        await settle(pilot)
        status = str(app.screen.query_one(".status-line").render())
        assert "f2 save" in status and "ctrl+s" not in status and "ctrl+o connect" in status
