"""The user's keymap and theme from console.toml applied to the app; unknown binding ids are named."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from weakref import WeakKeyDictionary

from textual.app import App
from textual.binding import Binding
from textual.dom import DOMNode
from textual.keys import format_key
from textual.screen import Screen

from lmdoctor.services.storage import config

_APPLIED: WeakKeyDictionary[App, dict[str, str]] = WeakKeyDictionary()

THEME_ORDER = ("textual-dark", "textual-light", "nord", "gruvbox", "dracula", "tokyo-night", "monokai",
               "catppuccin-mocha", "solarized-light", "flexoki")


def _bindings(cls: type[DOMNode]) -> Iterable[Binding]:
    for klass in cls.__mro__:
        for b in getattr(klass, "BINDINGS", ()) or ():
            if isinstance(b, Binding):
                yield b


def binding_ids(app: App) -> dict[str, str]:
    """Every binding id of the app, its screens and widgets → its default keys."""
    import lmdoctor.tui.screens
    import lmdoctor.tui.widgets

    classes: list[type[DOMNode]] = [type(app)]
    for package in (lmdoctor.tui.screens, lmdoctor.tui.widgets):
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            classes += [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, DOMNode)]
    return {b.id: b.key for cls in classes for b in _bindings(cls) if b.id}


def apply(app: App, settings: config.ConsoleConfig) -> list[str]:
    """Set the theme and keymap; returns problems to show (nothing is applied for an unknown id)."""
    problems: list[str] = []
    if settings.theme:
        if settings.theme in app.available_themes:
            app.theme = settings.theme
        else:
            problems.append(f"unknown theme {settings.theme!r} (known: {', '.join(sorted(app.available_themes))})")
    known = binding_ids(app)
    unknown = sorted(set(settings.keymap) - set(known))
    if unknown:
        problems.append(f"[keymap] unknown binding id(s) {', '.join(unknown)}; known ids: {', '.join(sorted(known))}")
    _APPLIED[app] = {k: v for k, v in settings.keymap.items() if k in known}
    app.set_keymap(_APPLIED[app])
    return problems


def remapped(app: App) -> dict[str, str]:
    """The binding ids console.toml's [keymap] moved on `app` → their keys (as written there)."""
    return dict(_APPLIED.get(app, {}))


def key_of(screen: Screen, binding_id: str) -> str:
    """The key that runs binding `binding_id` on `screen` now, as console.toml's [keymap] left it (for hints)."""
    for key, active in screen.active_bindings.items():
        if active.binding.id == binding_id:
            return active.binding.key_display or key
    return remapped(screen.app).get(binding_id) or binding_ids(screen.app).get(binding_id, "?")


def key_hint(screen: Screen, binding_id: str) -> str:
    """`key_of`'s first key as Textual's footer formats a key (escape → esc, slash → /), for hints in text."""
    return format_key(key_of(screen, binding_id).split(",")[0])


def next_theme(current: str, available: Iterable[str]) -> str:
    """The theme after `current` in a fixed order (built-in themes that exist, then the rest)."""
    names = [t for t in THEME_ORDER if t in set(available)]
    names += sorted(set(available) - set(names) - {"textual-ansi"})
    return names[(names.index(current) + 1) % len(names)] if current in names else names[0]
