"""Values from outside lmdoctor (directory, hosts, files, operators) made safe to print.

The rule: such a value is text, never markup and never a control sequence. ``visible`` keeps the
value readable but turns every character a terminal would act on (C0/C1 controls such as ESC,
which starts CSI/OSC sequences; DEL; bidi overrides and other invisible format characters; line
and paragraph separators) into a visible stand-in. Markup is the front end's business: the console
puts the result into ``rich.text.Text`` (or escapes it), the CLI prints it as it is.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import TextIO

JOINERS = frozenset({"\u200c", "\u200d"})  # ZWNJ / ZWJ: part of ordinary Persian, Indic and emoji text
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
# Fast path: printable ASCII (plus the Latin-1 letters) needs no work.
_PLAIN = re.compile(r"[\x20-\x7e\xa0-\xac\xae-\xff]*")


@lru_cache(maxsize=4096)
def _stand_in(char: str) -> str:
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ … ␟ (Control Pictures; ESC becomes ␛)
    if code == 0x7F:
        return "\u2421"  # ␡
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _unsafe(char: str) -> bool:
    return char not in JOINERS and unicodedata.category(char) in _UNSAFE_CATEGORIES


def visible(value: object, *, multiline: bool = False) -> str:
    """``value`` as text with every control/format character shown instead of acted on.

    ``multiline`` keeps line feeds (event messages, PowerShell output); tabs become a space.
    Everything else a terminal interprets — ESC, CR, BEL, C1 codes, bidi overrides — is shown
    as a Control Picture (``␛``) or an escape (``\\x9b``, ``\\u202e``).
    """
    text = value if isinstance(value, str) else str(value)
    # str.isprintable: no Other (C*) or Separator (Z*) character, so none that would change below
    if text.isprintable() or _PLAIN.fullmatch(text) or (multiline and text.replace("\n", "").isprintable()):
        return text
    # each distinct character looked up once (a message repeats a few dozen), then one pass to replace them
    stand_ins = {ord(char): shown for char in set(text) if (shown := _shown_as(char, multiline)) is not None}
    return text.translate(stand_ins) if stand_ins else text


def _shown_as(char: str, multiline: bool) -> str | None:
    """What `visible` shows instead of `char`, or None for the character itself."""
    if multiline and char == "\n":
        return None
    if multiline and char == "\t":
        return " "
    return _stand_in(char) if _unsafe(char) else None


def is_clean(value: str) -> bool:
    """True when ``visible`` would leave ``value`` unchanged (no control or format character)."""
    return visible(value) == value


def json_safe(text: str) -> str:
    """JSON text (``json.dumps(…, ensure_ascii=False)``) with every character ``visible`` would change written as a
    ``\\u`` escape: the document parses to the same values, and no control or format character reaches a terminal.
    Structural line feeds (indentation) are kept; inside strings json.dumps has already escaped them."""
    if _PLAIN.fullmatch(text.replace("\n", "")):
        return text
    out: list[str] = []
    for char in text:
        if char != "\n" and _unsafe(char):
            code = ord(char)
            if code > 0xFFFF:  # a surrogate pair, as JSON spells characters beyond the BMP
                code -= 0x10000
                out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
            else:
                out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


class VisibleStream:
    """A text stream that writes every value through ``visible`` (line feeds kept): whatever a command prints,
    a control character in it is shown on the terminal, never acted on."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(visible(text, multiline=True))
        return len(text)

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)
