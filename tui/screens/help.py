"""Context help: what the current screen shows and every key that works on it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Label

from lmdoctor.tui.keymap import remapped
from lmdoctor.tui.screens.restyle import RestyleWhenStale
from lmdoctor.tui.text import Part, assemble, join_lines
from lmdoctor.tui.widgets.plain import Plain

GLOBAL_KEYS = [
    ("? / F1", "this help"),
    (": / ctrl+p", "command palette: every action, every node"),
    ("/", "filter the list in focus (Esc clears)"),
    ("Enter", "drill in / act on the selected row"),
    ("Esc", "back"),
    ("ctrl+r", "read the directory and every host again"),
    ("ctrl+t", "next theme (saved in console.toml)"),
    ("q", "quit"),
]


def key_lines(screen: Screen) -> list[tuple[str, str]]:
    """The screen's keys, as remapped by the user's [keymap] where it names the binding's id."""
    moved = remapped(screen.app)
    keys: list[tuple[str, str]] = []
    for binding in screen.BINDINGS:
        if isinstance(binding, Binding) and binding.description:
            key = moved[binding.id] if binding.id in moved else binding.key_display or binding.key
            keys.append((key, binding.description))
    return keys


class HelpScreen(RestyleWhenStale[None], ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,f1,q", "close", "Close", id="help.close")]

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self.for_screen = screen

    def compose(self) -> ComposeResult:
        about = getattr(self.for_screen, "HELP", None) or (self.for_screen.__doc__ or "").strip()
        lines: list[Part] = [about, "", ("Keys on this screen", "b u")]
        lines += [assemble("  ", (f"{k:<10}", "b cyan"), f" {d}") for k, d in key_lines(self.for_screen)]
        lines += ["", ("Everywhere", "b u"), *(assemble("  ", (f"{k:<10}", "b cyan"), f" {d}") for k, d in GLOBAL_KEYS)]
        with Vertical(classes="dialog", id="help"):
            yield Label(f"Help · {type(self.for_screen).__name__.removesuffix('Screen')}", classes="dialog-title")
            with VerticalScroll():
                yield Plain(join_lines(lines), id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)
