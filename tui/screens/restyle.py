"""Screens restyled whole only when the app's styles changed since they were styled.

Textual restyles every widget of a screen it pushes (`ScreenResume.refresh_styles`), for a stylesheet or theme
changed while the screen was away; a screen it pops back to it never restyles. Each widget is styled as it is
mounted, and a change of class or pseudo-class restyles its widget at once, shown or not, so what a screen can
miss is only the app's own: its CSS (theme, variables: `App._css_update_count` counts each change) and terminal
focus. A screen pushed for the first time is composed after the push, so under the styles of that moment; a kept
one was last restyled when it was last shown. On a 64-node cluster, skipping the rest took a kept profiles
form's visit from 84 to 26 ms of lmdoctor's own (tests/perf/profile_screens.py)."""

from __future__ import annotations

from typing import TypeVar

from textual import events
from textual.message import Message
from textual.screen import Screen

Result = TypeVar("Result")


class RestyleWhenStale(Screen[Result]):
    """A screen that skips Textual's whole-screen restyle on a push when nothing it was styled under changed."""

    _styled_under: tuple[int, bool] | None = None  # the app's styles when this screen was last styled whole

    def post_message(self, message: Message) -> bool:
        if isinstance(message, events.ScreenResume) and message.refresh_styles:
            styles_now = (self.app._css_update_count, self.app.app_focus)
            first_push = self._styled_under is None and not self.is_mounted  # its widgets are styled as composed
            if first_push or styles_now == self._styled_under:
                message.refresh_styles = False
            self._styled_under = styles_now
        return super().post_message(message)
