"""lmdoctor.services.domain.safetext.visible: every character a terminal would act on is shown, not acted on."""

from __future__ import annotations

import io
import json
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from lmdoctor.services.domain.safetext import JOINERS, VisibleStream, _stand_in, is_clean, json_safe, visible


def test_escape_sequences_become_visible() -> None:
    osc52 = "x\x1b]52;c;cG93ZXJzaGVsbA==\x07y"
    assert visible(osc52) == "x␛]52;c;cG93ZXJzaGVsbA==␇y"
    assert visible("\x1b[2J") == "␛[2J"
    assert visible("\x9b2J") == "\\x9b2J"  # C1 CSI
    assert visible("a\rb\x7f") == "a␍b␡"


def test_format_characters_are_shown_but_joiners_kept() -> None:
    assert visible("evil\u202etxt.exe") == "evil\\u202etxt.exe"
    assert visible("soft\xadhyphen") == "soft\\xadhyphen"
    assert visible("👩\u200d💻") == "👩\u200d💻"
    assert visible("SQL [prod] é 中") == "SQL [prod] é 中"


def test_multiline_keeps_line_feeds_only() -> None:
    assert visible("one\ntwo\tthree\x1b", multiline=True) == "one\ntwo three␛"
    assert visible("one\ntwo") == "one␊two"


@given(st.text())
def test_result_never_holds_a_control_or_format_character(value: str) -> None:
    shown = visible(value)
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") and c not in "\u200c\u200d" for c in shown)
    assert is_clean(shown)


def _char_by_char(text: str, multiline: bool) -> str:
    """What visible does without its fast paths: every character looked up."""
    unsafe = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}
    return "".join(c if multiline and c == "\n" else " " if multiline and c == "\t"
                   else _stand_in(c) if c not in JOINERS and unicodedata.category(c) in unsafe else c for c in text)


def test_the_fast_paths_change_nothing_for_any_code_point() -> None:
    """Every code point of planes 0-3 (where characters are assigned) and every 97th beyond, alone and in a
    line of text after a line feed: the same as looked up one by one."""
    for code in [*range(0x40000), *range(0x40000, 0x110000, 97)]:
        char = chr(code)
        for text in (char, f"one\nHV01 {char} ✔"):
            for multiline in (False, True):
                assert visible(text, multiline=multiline) == _char_by_char(text, multiline), (hex(code), multiline)


@given(st.text(), st.booleans())
def test_the_fast_paths_change_nothing_for_any_text(value: str, multiline: bool) -> None:
    assert visible(value, multiline=multiline) == _char_by_char(value, multiline)


@given(st.recursive(st.none() | st.text(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_json_safe_parses_to_the_same_values_and_holds_no_control_character(value: object) -> None:
    text = json_safe(json.dumps(value, indent=2, ensure_ascii=False))
    assert json.loads(text) == value
    assert is_clean(text.replace("\n", ""))


def test_visible_stream_shows_what_it_is_given() -> None:
    out = io.StringIO()
    VisibleStream(out).write("vm\x1b]52;c;AA==\x07\nnext\x9b2J")
    assert out.getvalue() == "vm␛]52;c;AA==␇\nnext\\x9b2J"
