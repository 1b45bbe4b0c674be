"""The console styles a typed line by its kind (lmdoctor.tui.text.typed_lines), never by what its text starts with."""

from __future__ import annotations

from lmdoctor.services.domain.lines import Line
from lmdoctor.tui.text import typed_lines


def styles_by_line(lines: list[Line]) -> list[tuple[str, set[str]]]:
    content = typed_lines(lines)
    out, start = [], 0
    for row in content.plain.split("\n"):
        end = start + len(row)
        out.append((row, {str(s.style) for s in content.spans if s.start < end and s.end > start and str(s.style)}))
        start = end + 1
    return out


def test_the_kind_leads_and_styles_the_line_and_a_value_that_looks_like_a_mark_stays_plain() -> None:
    rows = styles_by_line([Line("fail", "lacks cifs/HV02"), Line("ok", "has cifs/HV03"),
                           Line("warn", "A CredSSP window is open on HV01."),
                           Line("info", "✖ HV09 event 21502: ✔ looks passed"),
                           Line("add", "- looks removed"), Line("remove", "+ looks added")])
    assert rows == [("✖ lacks cifs/HV02", {"red"}), ("✔ has cifs/HV03", {"green"}),
                    ("▲ A CredSSP window is open on HV01.", {"dark_orange"}),
                    ("✖ HV09 event 21502: ✔ looks passed", set()),
                    ("    + - looks removed", {"green"}), ("    - + looks added", {"red"})]


def test_a_control_character_in_a_line_is_shown_not_sent() -> None:
    (row, _), = styles_by_line([Line("fail", "lacks cifs/HV02\x1b[2J")])
    assert "\x1b" not in row and row.startswith("✖ lacks cifs/HV02")
