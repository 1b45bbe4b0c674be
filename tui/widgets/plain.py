"""Widgets that show text, never markup: a str or Text given to them is rendered safe (lmdoctor.tui.text.safe)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.content import Content
from textual.widgets import Label, Log, Static

from lmdoctor.services.domain.safetext import visible
from lmdoctor.tui.text import safe


class Plain(Static):
    """A Static whose content is text: ``update("[b]x[/]")`` shows the brackets; control characters are shown."""

    def __init__(self, content: str | Content | Text = "", *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(safe(content), markup=False, id=id, classes=classes)

    def update(  # type: ignore[override]  # text only, narrower than Static.update on purpose
            self, content: str | Content | Text = "", *, layout: bool = True) -> None:
        super().update(safe(content), layout=layout)


class PlainLabel(Plain, Label):
    """A Label whose content is text (see Plain)."""


class PlainLog(Log):
    """A Log whose lines are text: every control character is shown, never sent to the terminal."""

    def write(self, data: str, scroll_end: bool | None = None) -> PlainLog:
        return super().write(visible(data, multiline=True), scroll_end)

    def write_lines(self, lines: Iterable[str], scroll_end: bool | None = None) -> PlainLog:
        return super().write_lines([visible(line, multiline=True) for line in lines], scroll_end)
