"""The Markdown change record shows outside values literally: a Markdown viewer renders no emphasis, link, image,
HTML or entity from a value, and the value's text survives the round trip."""

from __future__ import annotations

import html
import re

import pytest
from markdown_it import MarkdownIt

from lmdoctor.services.operations import report

HOSTILE = [
    "**x**", "_y_", "[a](http://example.test)", "![i](http://example.test/p.png)", '<img src="x" onerror=1>',
    "&lt;b&gt;", "`tick` ``two``", "~~gone~~", "<http://example.test>", "a | b", "back\\slash*", "{attr}",
]


def _doc(value: str) -> dict:
    finding = {"severity": "error", "id": value, "message": value, "evidence": [value]}
    change = {"seq": 1, "time": "2026-01-01T00:00:00", "state": "applied", "description": value, "rollback_of": None,
              "error": None, "target": value, "reason": value, "added": [value], "removed": [], "read_back": [value]}
    move = {"time": "2026-01-01T00:00:00", "vm": value, "source": value, "destination": value, "what_if": False,
            "reason": value, "ok": False, "verified": False, "error": value, "cause": None}
    tour = {"id": value, "vm": value, "reason": value, "hops": [
        {"time": "2026-01-01T00:00:00", "source": value, "destination": value, "ok": False, "pre_flight_only": True,
         "duration_s": 0.1, "blackout_ms": None, "bytes_transferred": None, "error": value}]}
    summary = dict.fromkeys(("errors", "warnings", "applied", "reconciled", "failed", "in_doubt", "intent",
                             "rollbacks", "moves_ok", "moves_failed"), 0)
    return {"generated_at": "2026-01-01T00:00:00", "target": value, "domain": value, "cluster": value,
            "findings": [finding], "changes": [change], "verification": [move], "tours": [tour], "summary": summary,
            "credssp_windows": [{"host": value, "expires": "2026-01-01T00:00:00", "expired": False, "reason": value}]}


def _rendered(markdown: str) -> str:
    return MarkdownIt("commonmark").enable("table").enable("strikethrough").render(markdown)


@pytest.mark.parametrize("value", HOSTILE)
def test_an_outside_value_renders_as_its_own_text(value: str):
    out = _rendered(report.to_markdown(_doc(value)))
    tags = set(re.findall(r"<(\w+)", out))
    assert tags <= {"h1", "h2", "p", "table", "thead", "tbody", "tr", "th", "td", "ul", "li", "code"}, tags
    text = html.unescape(re.sub(r"<[^>]+>", "", out))
    assert text.count(value) >= 19  # every place the value appears shows it character for character


def test_a_bare_address_is_not_turned_into_a_link_by_an_autolinking_viewer():
    cell = report._cell("see https://example.test and www.example.test")
    assert "https://" not in cell and "www." not in cell
    assert html.unescape(re.sub(r"<[^>]+>", "", _rendered(cell))).strip() == "see https://example.test and www.example.test"


@pytest.mark.parametrize("value", ["plain", "a`b", "``", "`start", "x|y"])
def test_a_code_span_fence_is_longer_than_any_backtick_run(value: str):
    span = report._code(value)
    assert re.sub(r"<[^>]+>", "", MarkdownIt("commonmark").render(span.replace("\\|", "|"))).strip() == \
        html.escape(value, quote=False)
