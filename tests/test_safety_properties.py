"""Property tests of the safety parsers: operator input, journal lines, profiles, report cells, event text."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timezone
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from lmdoctor.services.domain import events, fixes, inputs
from lmdoctor.services.domain.models import ChangePreview, ComputerAccount, JournalEntry
from lmdoctor.services.operations import report
from lmdoctor.services.storage import profiles
from lmdoctor.services.storage.journal import Journal, JournalError, read_jsonl

HOSTILE = st.one_of(
    st.text(), st.text(alphabet="*()\\\x00'\"`$;|&<>[]?{} \n\t-."),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300), st.just("H" * 10_000))


@given(HOSTILE)
@example("HV02)(objectClass=*)")
@example("ＨＶ０２")
def test_host_name_accepts_only_plain_dns_names(text):
    try:
        name = inputs.host_name(text)
    except inputs.InputError as exc:
        assert len(str(exc)) < 300
        return
    assert re.fullmatch(r"[A-Z0-9.-]{1,253}", name) and name == text.upper()


@given(HOSTILE)
@example("APP01\u202e")
def test_vm_name_never_accepts_wildcards_controls_or_overlong_names(text):
    try:
        name = inputs.vm_name(text)
    except inputs.InputError as exc:
        assert len(str(exc)) < 300
        return
    assert name == text and 1 <= len(name) <= inputs.VM_NAME_MAX and name == name.strip()
    assert not set(name) & inputs.WILDCARDS
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") and c not in inputs.JOINERS for c in name)
    assert not {"\u202e", "\u2066", "\x00", "\n"} & set(name)


@given(HOSTILE)
def test_reason_is_one_bounded_line(text):
    try:
        reason = inputs.reason(text)
    except inputs.InputError:
        return
    assert 1 <= len(reason) <= inputs.REASON_MAX and "\n" not in reason and "\x00" not in reason


@given(HOSTILE)
def test_finding_ids_are_three_safe_parts(text):
    try:
        value = inputs.finding_id(text)
    except inputs.InputError:
        return
    assert len(value.split(":")) == 3 and not set(value) & set("*()\\\x00 ")


# --- journal --------------------------------------------------------------------------------


@given(st.binary(max_size=400))
@example(b'{"seq": 1}\n')
@example(b"\xef\xbb\xbf{}\n")
def test_reading_any_bytes_as_a_journal_gives_entries_or_a_journal_error(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("j") / "journal.jsonl"
    path.write_bytes(blob)
    try:
        entries = read_jsonl(path, JournalEntry, "journal entry")
    except JournalError as exc:
        assert str(path) in str(exc) and re.search(r"line \d+", str(exc))
        return
    assert all(isinstance(e, JournalEntry) for e in entries)


HV01 = ComputerAccount(name="HV01", dn="CN=HV01,CN=Computers,DC=contoso,DC=local")


@given(st.text(min_size=1, max_size=80), st.lists(st.text(max_size=40), max_size=4), st.data())
def test_journal_round_trips_any_text_and_any_cut_is_refused_or_a_prefix(tmp_path_factory, reason, values, data):
    journal = Journal(tmp_path_factory.mktemp("j") / "journal.jsonl")
    action = fixes.add_delegation(HV01, values, "HV02")
    preview = ChangePreview(action=action, before=("x",), after=("x", *values))
    expires = datetime(2030, 1, 1, tzinfo=timezone.utc)  # both lines of a change carry it, as lmdoctor writes them
    first = journal.record(batch="b", change_id="c1", state="intent", preview=preview, reason=reason, expires=expires)
    second = journal.record(batch="b", change_id="c1", state="applied", preview=preview, reason=reason,
                            read_back=preview.after, expires=expires)
    assert journal.entries() == [first, second]
    raw = journal.path.read_bytes()
    cut = data.draw(st.integers(0, len(raw)))
    Path(journal.path).write_bytes(raw[:cut])
    try:
        kept = journal.entries()
    except JournalError:
        return  # a torn line is reported, never silently dropped
    assert kept == [first, second][:len(kept)]
    assert raw[:cut].rstrip(b"\n").count(b"\n") + (1 if raw[:cut].strip() else 0) == len(kept)


# --- profiles, report cells, event text --------------------------------------------------------


@given(st.text(max_size=400))
@example('domain = "a"\ndc = "b"\nbind_user = "u@a"\ncluster = "c"\npassword = "p"\n')
@example("a = " + "[" * 1500 + "]" * 1500)
def test_profile_parse_gives_a_profile_or_a_profile_error(text):
    try:
        profile = profiles.parse(text, "p")
    except profiles.ProfileError as exc:
        assert str(exc).startswith("profile p: ")
        return
    assert profile.name == "p"


@given(st.one_of(st.text(), st.lists(st.text(), max_size=4), st.none(), st.integers()))
def test_report_cells_cannot_break_a_markdown_table(value):
    cell = report._cell(value)
    assert "\n" not in cell and "\r" not in cell
    assert re.sub(r"\\\\|\\\|", "", cell).count("|") == 0  # every pipe is escaped


SIGNED = [(s.cause, h) for s in events.SIGNATURES for h in s.hresults]


@given(st.sampled_from(SIGNED), st.text(max_size=100), st.text(max_size=100), st.booleans())
def test_an_hresult_is_classified_whatever_surrounds_it(signed, before, after, upper):
    cause, hresult = signed
    text = f"{before} {hresult.upper() if upper else hresult} {after}"
    found = events.classify(text)
    assert found is not None
    order = [s.cause for s in events.SIGNATURES]
    assert order.index(found) <= order.index(cause)  # the HRESULT's cause, or a more specific earlier match
