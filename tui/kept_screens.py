"""Screens kept between visits (Textual's installed screens): leaving one keeps its widgets, so opening it again
is a push of a painted screen, not a compose, a stylesheet pass and a first paint of every widget.

A kept screen follows the inventory while it is away only as far as noting that it changed
(`BaseScreen.follow_inventory` renders again when it is shown). The fix preview (a write being confirmed) is
never kept; the profiles form clears its password fields whenever it is left."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TypeVar, cast

from textual.app import App
from textual.screen import Screen

from lmdoctor.tui import heap

S = TypeVar("S", bound=Screen)

LIMIT = 16  # screens kept at most; the one left longest ago goes first


class KeptScreens:
    """The app's kept screens by key ("matrix", "node", "findings:HV01", …), least recently shown first."""

    def __init__(self, app: App, limit: int = LIMIT) -> None:
        self.app = app
        self.limit = limit
        self._kept: OrderedDict[str, Screen] = OrderedDict()

    def get(self, key: str, make: Callable[[], S]) -> S:
        """The screen kept under `key`, or a new one from `make` (kept from now on). A screen already on the
        stack (the same view opened from above itself) cannot be pushed twice: that visit gets a new one, not
        kept."""
        screen = self._kept.get(key)
        if screen is not None and screen in self.app.screen_stack:
            return make()
        if screen is None:
            screen = make()
            self.app.install_screen(screen, name=f"kept:{key}")
            screen.call_after_refresh(heap.freeze_new)  # composed and shown by then; it lives on
            self._kept[key] = screen
            self._evict()
        self._kept.move_to_end(key)
        return cast(S, screen)  # the one `make` built for this key

    def forget(self, leaving: Iterable[Screen] = ()) -> None:
        """Keep nothing any more (another cluster was opened). `leaving`: screens just popped, which Textual
        removes itself once they are no longer installed."""
        leaving = set(leaving)
        for screen in self._kept.values():
            self.app.uninstall_screen(screen)
            if screen not in leaving:
                screen.remove()
        self._kept.clear()

    def _evict(self) -> None:
        for key in list(self._kept):
            if len(self._kept) <= self.limit:
                return
            screen = self._kept[key]
            if screen in self.app.screen_stack:
                continue
            del self._kept[key]
            self.app.uninstall_screen(screen)
            screen.remove()
