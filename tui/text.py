"""What the console shows is text: values from outside lmdoctor are never markup, never a control sequence.

Screens build what they show from parts — lmdoctor's own words and styles, and the values read from AD,
the hosts, the journal or a file — so nothing a value holds is parsed as markup: ``[bold red]``,
``[@click=app.quit]``, ``[link=…]`` or an unbalanced ``[/]`` is shown as typed. Every character a
terminal would act on (ESC starting an OSC 52 clipboard write or ``ESC[2J``, C1 codes, bidi overrides)
is shown as a visible stand-in by ``lmdoctor.services.domain.safetext.visible``.

Widget text is Textual ``Content`` (its style names match Textual markup's); table cells are
``rich.text.Text``, which DataTable takes as it is. Markup escaping (``rich.markup.escape``) is not
used: Textual's markup also reads ``[$var]``, ``[BOLD]`` and ``[ bold]`` as tags, which it leaves alone.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.content import Content

from lmdoctor.services.domain.lines import Line, LineKind
from lmdoctor.services.domain.safetext import visible

Part = str | Content | Text | tuple[object, str]  # plain text · ready content · (value, style)


def shown(value: object, style: str = "", *, multiline: bool = False) -> Content:
    """One value in `style`; line feeds are shown as ␊ unless `multiline`."""
    return Content.styled(visible(value, multiline=multiline), style)


def assemble(*parts: Part, style: str = "") -> Content:
    """One text from parts: a str is plain text, ``(value, style)`` a value in that style, Content or Text
    is kept (made safe). Line feeds are kept; every other control character is shown, never sent."""
    pieces: list[str | Content | tuple[str, str]] = []
    for part in parts:
        if isinstance(part, (Content, Text)):
            pieces.append(safe(part))
        elif isinstance(part, tuple):
            value, part_style = part
            pieces.append((visible(value, multiline=True), part_style))
        else:
            pieces.append(visible(part, multiline=True))
    content = Content.assemble(*pieces)
    return content.stylize_before(style) if style else content


def join_lines(rows: Iterable[Part]) -> Content:
    """Rows (each a Part) joined by line feeds."""
    return Content("\n").join(assemble(row) for row in rows)


# How a typed line looks in the console, by its kind: what leads it (a mark or an indent) and its style.
LINE_LOOK: dict[LineKind, tuple[str, str]] = {
    "ok": ("✔ ", "green"), "fail": ("✖ ", "red"), "warn": ("▲ ", "dark_orange"), "info": ("", ""),
    "change": ("- ", "b"), "detail": ("    ", ""), "add": ("    + ", "green"), "remove": ("    - ", "red"),
    "command": ("    ", "dim"),
}


def typed_line(line: Line) -> tuple[str, str]:
    """One typed line (lmdoctor.services.domain.lines) as a row: led and styled by its kind, its text plain."""
    lead, style = LINE_LOOK[line.kind]
    return lead + line.text, style


def typed_lines(lines: Iterable[Line]) -> Content:
    """Typed lines, one per row."""
    return join_lines(typed_line(line) for line in lines)


def safe(content: str | Content | Text) -> Content:
    """Widget content made safe to render: a str is plain text (never markup); Content and Text keep their
    styles, but any control character in them is shown instead of sent."""
    if isinstance(content, str):
        return Content(visible(content, multiline=True))
    if isinstance(content, Text):
        content = Content.from_rich_text(content)
    if visible(content.plain, multiline=True) == content.plain:
        return content
    cuts = sorted({s.start for s in content.spans} | {s.end for s in content.spans})
    out = Content()
    for piece in content.divide(cuts):  # after dividing at every span edge, a span covers a whole piece
        part = Content(visible(piece.plain, multiline=True))
        for span in piece.spans:
            part = part.stylize(span.style)
        out += part
    return out


def cell(value: object, style: str = "") -> Text:
    """One value as a table cell (or a list option): single line, never markup."""
    return Text(visible(value), style=style, end="")


def safe_cell(value: str | Text) -> Text:
    """A table cell made safe: a str is plain text; a Text keeps its styles, its control characters shown."""
    if not isinstance(value, Text):
        return cell(value)
    if visible(value.plain) == value.plain:
        return value
    cuts = sorted({s.start for s in value.spans} | {s.end for s in value.spans})
    out = Text(style=value.style, justify=value.justify, no_wrap=value.no_wrap, end="")
    for piece in value.divide(cuts):
        part = Text(visible(piece.plain), end="")
        for span in piece.spans:
            part.stylize(span.style)
        out.append_text(part)
    return out


def markup_literal(value: object) -> str:
    """`value` as Textual markup that shows it literally, for the few APIs that take only markup strings
    (the command palette): controls made visible, every ``[`` escaped."""
    return visible(value).replace("[", "\\[")
