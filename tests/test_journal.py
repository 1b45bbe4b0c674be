"""The append-only change journal: durable lines, loud failures on damage, and in-doubt intents."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from lmdoctor.services.domain import fixes
from lmdoctor.services.domain.models import ChangePreview, ComputerAccount
from lmdoctor.services.storage.journal import Journal, JournalError, new_id

HV01 = ComputerAccount(name="HV01", dn="CN=HV01,CN=Computers,DC=contoso,DC=local")
VALUES = ("cifs/HV02", "cifs/HV02.contoso.local")


def preview(values=VALUES) -> ChangePreview:
    action = fixes.add_delegation(HV01, values, "HV02")
    return ChangePreview(action=action, before=("HOST/x",), after=("HOST/x",) + tuple(values))


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "journal" / "journal.jsonl")


def record(journal: Journal, state: str, change_id: str, batch: str = "b1", reason: str = "CHG-1", **kw):
    return journal.record(batch=batch, change_id=change_id, state=state, preview=preview(), reason=reason, **kw)


def test_missing_journal_is_empty(journal):
    assert journal.entries() == []
    assert journal.in_doubt() == []
    assert journal.latest_by_change() == {}


def test_record_appends_one_json_line_per_entry(journal):
    first = record(journal, "intent", "c1")
    second = record(journal, "applied", "c1", read_back=preview().after)
    lines = journal.path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert [json.loads(line)["state"] for line in lines] == ["intent", "applied"]
    assert journal.entries() == [first, second]
    assert (first.seq, second.seq) == (1, 2)
    assert second.read_back == preview().after and first.read_back is None
    assert second.action == preview().action and second.reason == "CHG-1"


def test_journal_file_is_private(journal):
    record(journal, "intent", "c1")
    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600


def test_every_append_is_fsynced(journal, monkeypatch):
    synced: list[int] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    record(journal, "intent", "c1")
    record(journal, "applied", "c1")
    assert len(synced) == 2


def test_append_never_rewrites_earlier_lines(journal):
    record(journal, "intent", "c1")
    head = journal.path.read_bytes()
    record(journal, "applied", "c1")
    assert journal.path.read_bytes().startswith(head)


def test_blank_lines_are_ignored(journal):
    record(journal, "intent", "c1")
    with journal.path.open("a", encoding="utf-8") as f:
        f.write("\n   \n")
    record(journal, "applied", "c1")
    assert [e.state for e in journal.entries()] == ["intent", "applied"]


def test_truncated_last_line_names_the_line(journal):
    record(journal, "intent", "c1")
    record(journal, "applied", "c1")
    record(journal, "intent", "c2")
    data = journal.path.read_bytes()
    journal.path.write_bytes(data[: len(data) - 40])  # a torn write: the last line lost its end
    with pytest.raises(JournalError, match="line 3") as info:
        journal.entries()
    assert str(journal.path) in str(info.value)
    with pytest.raises(JournalError):
        journal.in_doubt()


def test_truncated_inside_a_multibyte_character_is_a_journal_error(journal):
    """A torn write can split a UTF-8 character (reasons are free text): still a JournalError, not a crash."""
    record(journal, "intent", "c1", reason="Änderung CHG-7 — Wartungsfenster ✓")
    data = journal.path.read_bytes()
    cut = data.index("✓".encode()) + 1
    journal.path.write_bytes(data[:cut])
    with pytest.raises(JournalError, match="line 1"):
        journal.entries()


def test_edited_line_with_a_bad_field_names_the_line(journal):
    record(journal, "intent", "c1")
    record(journal, "applied", "c1")
    lines = journal.path.read_text(encoding="utf-8").splitlines()
    edited = json.loads(lines[1])
    edited["state"] = "done"
    lines[1] = json.dumps(edited)
    journal.path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(JournalError, match="line 2"):
        journal.entries()


@pytest.mark.parametrize("mutate", [
    lambda e: e.pop("action"),
    lambda e: e.update(seq="first"),
    lambda e: e.update(extra_field=1),
    lambda e: e["action"].update(kind="directory.replace_everything"),
    lambda e: e.update(before="not a list"),
])
def test_edited_entry_is_refused(journal, mutate):
    record(journal, "intent", "c1")
    entry = json.loads(journal.path.read_text(encoding="utf-8"))
    mutate(entry)
    journal.path.write_text(json.dumps(entry) + "\n", encoding="utf-8")
    with pytest.raises(JournalError, match="line 1"):
        journal.entries()


@pytest.mark.parametrize("line", ["42", "[]", "null", '"intent"', "{not json"])
def test_non_entry_lines_are_refused(journal, line):
    record(journal, "intent", "c1")
    with journal.path.open("a", encoding="utf-8") as f:
        f.write(line + "\n")
    with pytest.raises(JournalError, match="line 2"):
        journal.entries()


def test_in_doubt_lists_intents_without_an_outcome(journal):
    record(journal, "intent", "c1")
    record(journal, "applied", "c1")
    record(journal, "intent", "c2")
    record(journal, "failed", "c2", error="boom")
    record(journal, "intent", "c3", batch="b2")
    doubt = journal.in_doubt()
    assert [(e.change_id, e.state, e.batch) for e in doubt] == [("c3", "intent", "b2")]
    latest = journal.latest_by_change()
    assert {k: v.state for k, v in latest.items()} == {"c1": "applied", "c2": "failed", "c3": "intent"}
    record(journal, "reconciled", "c3", batch="b2")
    assert journal.in_doubt() == []


def test_new_ids_are_unique():
    ids = {new_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 12 for i in ids)


# --- a journal edited by hand is verified on read, and refused where it cannot be trusted ----------------------


def lines_of(journal: Journal) -> list[dict]:
    return [json.loads(line) for line in journal.path.read_text(encoding="utf-8").splitlines()]


def write_lines(journal: Journal, lines: list[dict]) -> None:
    journal.path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")


def applied_and_rolled_back(journal: Journal) -> None:
    """Four lines: change c1 applied, then c2, its rollback, applied."""
    record(journal, "intent", "c1")
    record(journal, "applied", "c1", read_back=preview().after)
    record(journal, "intent", "c2", batch="b2", rollback_of="c1")
    record(journal, "applied", "c2", batch="b2", rollback_of="c1", read_back=preview().after)


def renumbered(lines: list[dict]) -> list[dict]:
    return [dict(line, seq=number) for number, line in enumerate(lines, start=1)]


@pytest.mark.parametrize("edit, line, says", [
    (lambda ls: ls + [ls[-1]], 5, "seq 4 where 5 was expected"),  # a duplicated line
    (lambda ls: ls[:1] + ls[2:], 2, "seq 3 where 2 was expected"),  # a line removed
    (lambda ls: [dict(ls[0], seq=-1)] + ls[1:], 1, "seq -1"),
    (lambda ls: [dict(ls[0], seq=0)] + ls[1:], 1, "seq 0"),
    (lambda ls: [dict(ls[0], seq="1")] + ls[1:], 1, "seq"),  # no coercion of a string …
    (lambda ls: [dict(ls[0], seq=1.0)] + ls[1:], 1, "seq"),  # … nor of a float
    (lambda ls: [dict(ls[0], seq=True)] + ls[1:], 1, "seq"),
    (lambda ls: ls[:1] + [dict(ls[1], state="rolled_back")] + ls[2:], 2, "'rolled_back' after 'intent'"),
    (lambda ls: renumbered(ls + [ls[0]]), 5, "'intent' after 'applied'"),  # the intent appended again
    (lambda ls: renumbered(ls[:2] + [dict(ls[1], state="failed", error="x")] + ls[2:]), 3,
     "'failed' after 'applied'"),  # a false "failed" outcome for a change that was applied and rolled back
    (lambda ls: renumbered(ls[1:]), 1, "outcome ('applied') of change c1, which has no intent line"),
    (lambda ls: ls[:1] + [dict(ls[1], after=["HOST/x"])] + ls[2:], 2, "changes the after of change c1"),
    (lambda ls: ls[:1] + [dict(ls[1], batch="other")] + ls[2:], 2, "changes the batch of change c1"),
    (lambda ls: ls[:2] + [dict(line, rollback_of="nope") for line in ls[2:]], 3, "undoes change nope"),
])
def test_a_journal_edited_by_hand_is_refused_naming_the_line(journal, edit, line, says):
    applied_and_rolled_back(journal)
    write_lines(journal, edit(lines_of(journal)))
    with pytest.raises(JournalError) as info:
        journal.entries()
    message = str(info.value)
    assert message.startswith(f"{journal.path}: line {line} ") and says in message
    assert "\n" not in message
    with pytest.raises(JournalError):  # nothing is appended to a journal that cannot be trusted
        record(journal, "intent", "c3")


def test_the_journal_as_lmdoctor_writes_it_is_accepted(journal):
    applied_and_rolled_back(journal)
    record(journal, "intent", "c3", batch="b3")
    record(journal, "in_doubt", "c3", batch="b3", error="connection lost")
    record(journal, "reconciled", "c3", batch="b3", read_back=preview().after)
    record(journal, "reconciled", "c4", batch="b4", rollback_of="c3", read_back=preview().before)  # closed, no write
    assert [e.seq for e in journal.entries()] == list(range(1, 9))


@pytest.mark.parametrize("state", ["applied", "failed", "intent", "rolled_back"])
def test_a_second_outcome_or_intent_of_a_change_is_never_appended(journal, state):
    record(journal, "intent", "c1")
    record(journal, "applied", "c1", read_back=preview().after)
    head = journal.path.read_bytes()
    with pytest.raises(JournalError, match="not journaling change c1"):
        record(journal, state, "c1")
    assert journal.path.read_bytes() == head


def test_an_outcome_without_its_intent_is_never_appended(journal):
    with pytest.raises(JournalError, match="no intent line"):
        record(journal, "applied", "c1")
    assert journal.path.read_bytes() == b""


def test_a_line_of_deeply_nested_brackets_is_refused_naming_the_line(journal):
    record(journal, "intent", "c1")
    with journal.path.open("a", encoding="utf-8") as f:
        f.write("[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(JournalError, match="line 2 is not a valid journal entry"):
        journal.entries()


def test_an_overlong_line_is_refused_without_reading_it_whole(journal):
    record(journal, "intent", "c1")
    with journal.path.open("a", encoding="utf-8") as f:
        f.write('{"seq": 2, "reason": "' + "x" * (2 << 20) + '"}\n')
    with pytest.raises(JournalError, match="line 2 is longer than"):
        journal.entries()


_LOCK_WITHOUT_FCNTL = """
import sys, time
sys.modules["fcntl"] = None  # as on Windows: no POSIX flock
from pathlib import Path
from lmdoctor.services.storage.locks import file_lock
journal, role, marker = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
if role == "waiter":
    marker.touch()  # the holder keeps the lock one more second from now
asked = time.monotonic()
with file_lock(journal):
    print(f"held after {time.monotonic() - asked:.2f}", flush=True)
    if role == "holder":
        while not marker.exists():
            time.sleep(0.02)
        time.sleep(1.0)
"""


def test_the_lock_holds_across_processes_without_fcntl(journal, tmp_path):
    """With no fcntl (as on Windows) the journal's lock still keeps a second process waiting. Both processes
    lack fcntl, so filelock gives them the same kind of lock; Windows' own (LockFileEx) is not run here."""
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    argv = [sys.executable, "-c", _LOCK_WITHOUT_FCNTL, str(journal.path)]
    holder = subprocess.Popen([*argv, "holder", str(tmp_path / "asked")], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().startswith("held")
        waiter = subprocess.run([*argv, "waiter", str(tmp_path / "asked")], capture_output=True, text=True, env=env,
                                timeout=30)
    finally:
        holder.wait(timeout=30)
    assert holder.returncode == 0 and waiter.stdout.startswith("held after "), waiter.stderr
    waited = float(waiter.stdout.split()[2])
    assert waited >= 0.8, f"the second process got the lock {waited} s after asking, while the first held it"
