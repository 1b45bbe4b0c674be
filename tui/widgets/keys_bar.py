"""The key bar at the bottom of every screen: one line of text, the look of Textual's Footer, none of its cost.

Textual's Footer is one widget per key, recomposed (removed, mounted, styled) whenever the screen's
bindings change — at every screen opened, a third of the time an lmdoctor screen took to open. This
bar is one widget whose text is rebuilt instead; a click on a key presses it, as on the Footer.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.screen import Screen

from lmdoctor.tui.widgets.plain import Plain


class KeysBar(Plain):
    """The screen's shown bindings, one per action: " key " in the key style, then the description."""

    COMPONENT_CLASSES = {"keys-bar--key", "keys-bar--description"}
    DEFAULT_CSS = """
    KeysBar {
        dock: bottom;
        height: 1;
        text-wrap: nowrap;
        text-overflow: clip;
        color: $footer-foreground;
        background: $footer-background;
        .keys-bar--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        .keys-bar--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
    }
    """

    def __init__(self) -> None:
        super().__init__("")
        self.spans: list[tuple[int, int, str]] = []  # (first column, end column, key) of each shown binding
        self._shown: Text | None = None  # the text last set (the bar's content)

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self.bindings_changed)

    def bindings_changed(self, screen: Screen) -> None:
        """As the Footer: shown after the next refresh, once the screen has mounted (check_action may need it)."""
        if self.is_attached and screen is self.screen:
            self.call_after_refresh(self.show_bindings, screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def show_bindings(self, screen: Screen) -> None:
        if not self.is_attached or screen is not self.screen:  # the screen closed before the refresh came
            return
        key_style = self.get_component_rich_style("keys-bar--key")
        description_style = self.get_component_rich_style("keys-bar--description")
        text, spans, actions = Text(end=""), [], set()
        for _node, binding, enabled, _tooltip in screen.active_bindings.values():
            if not binding.show or binding.action in actions:
                continue
            actions.add(binding.action)
            start = len(text)
            text.append(f" {self.app.get_key_display(binding)} ", key_style)
            text.append(f"{binding.description} ", description_style)
            if not enabled:
                text.stylize("dim", start)
            spans.append((start, len(text), binding.key))
        if text == self._shown and spans == self.spans:  # announced at every focus change; most change nothing
            return
        self._shown, self.spans = text, spans
        self.update(text, layout=False)  # one line, docked at the bottom: its text never changes its size

    def on_click(self, event: events.Click) -> None:
        key = next((key for start, end, key in self.spans if start <= event.x < end), None)
        if key:
            self.app.simulate_key(key)
