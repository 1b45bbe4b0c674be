"""The key bar: each screen's shown keys as one line of text, updated as the screen changes; a click presses one."""

from __future__ import annotations

from lmdoctor.tui.screens.findings import FindingsScreen
from lmdoctor.tui.screens.nodes import NodesScreen
from lmdoctor.tui.widgets.keys_bar import KeysBar
from tests.tui.conftest import settle


def bar_text(app) -> str:
    return str(app.screen.query_one(KeysBar).render())


async def test_the_bar_shows_the_screens_keys_and_a_click_presses_one(demo_app):
    app = demo_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        assert isinstance(app.screen, NodesScreen)
        shown = bar_text(app)
        assert " f Findings " in shown and " x Matrix " in shown and " ? Help " in shown
        assert "Back" not in shown  # the home screen has nowhere to go back to
        bar = app.screen.query_one(KeysBar)
        start = next(first for first, _end, key in bar.spans if key == "f")
        await pilot.click(KeysBar, offset=(start + 1, 0))
        await settle(pilot, lambda: isinstance(app.screen, FindingsScreen))
        assert " esc Back " in bar_text(app)
        assert " f Findings " not in bar_text(app)


async def test_the_bar_is_redrawn_only_when_its_keys_change_and_never_lays_the_screen_out(demo_app, monkeypatch):
    """Bindings are announced at every focus change; the bar's text is set again only when it changes, and its
    one docked line never changes size, so setting it repaints the bar alone (a layout pass was a large part of
    opening a kept screen)."""
    from lmdoctor.tui.widgets.plain import Plain

    app = demo_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        updates: list[tuple[KeysBar, bool]] = []
        plain_update = Plain.update

        def update(self, content="", *, layout: bool = True) -> None:
            if isinstance(self, KeysBar):
                updates.append((self, layout))
            plain_update(self, content, layout=layout)

        monkeypatch.setattr(Plain, "update", update)
        home_bar = app.screen.query_one(KeysBar)
        home_bar.show_bindings(app.screen)  # the same keys announced again
        assert updates == []
        await pilot.press("f")
        await settle(pilot, lambda: isinstance(app.screen, FindingsScreen))
        bar = app.screen.query_one(KeysBar)
        assert [layout for shown, layout in updates if shown is bar] == [False]  # its keys, set once, no layout
        assert " esc Back " in bar_text(app) and bar.region.width == app.size.width
        bar.show_bindings(app.screen)
        assert len(updates) == 1
