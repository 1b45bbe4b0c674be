"""Small rich renderables: health and severity badges."""

from __future__ import annotations

from rich.text import Text

STYLES = {
    "error": ("✖ ERROR", "bold white on dark_red"),
    "warning": ("▲ WARN", "bold black on dark_orange"),
    "info": ("● INFO", "bold white on blue"),
    "ok": ("✔ OK", "bold white on dark_green"),
}


def badge(level: str) -> Text:
    label, style = STYLES.get(level, (level.upper(), "bold"))
    return Text(f" {label} ", style=style)


def yes_no(value: bool | None, good: bool = True) -> Text:
    if value is None:
        return Text("?", style="dim")
    ok = value == good
    return Text("yes" if value else "no", style="green" if ok else "bold red")
