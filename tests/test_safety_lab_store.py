"""The lab store and the journal never lose or falsify history (CLI as a subprocess).

A lab missing a file or holding a damaged one is refused with one line naming the file and the way
out — never recreated over its journal; a hand-edited journal is refused naming the line; a rollback
of values whose case was changed since removes them as they are now spelt."""

from __future__ import annotations

import json

import pytest

from tests.support.cli_lab import SEED_IDS, Lab, ids

HV01 = "CN=HV01,CN=Computers,DC=contoso,DC=local"
DELEGATE = "msDS-AllowedToDelegateTo"


@pytest.fixture
def used_lab(lab: Lab) -> Lab:
    """A seed lab with history: a fix, a test move (move log), and the fix rolled back (four journal lines)."""
    assert lab.run("fix", "--all", "--yes", "--reason", "CHG-1").returncode == 0
    assert lab.run("migrate", "--vm", "APP01", "--to", "HV02", "--yes", "--reason", "CHG-1").returncode == 0
    assert lab.run("rollback", "--last", "--yes").returncode == 0
    assert len(journal_lines(lab)) == 4
    return lab


def history(lab: Lab) -> dict[str, bytes]:
    return {name: (lab.root / name).read_bytes() for name in ("journal.jsonl", "journal.moves.jsonl")}


def one_line_refusal(r, *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and r.stderr.startswith("lmdoctor: ")
    assert r.stderr.strip().count("\n") == 0, r.stderr
    for word in words:
        assert word in r.stderr, r.stderr


@pytest.mark.parametrize("missing", ["hosts.json", "directory.json"])
@pytest.mark.parametrize("command", [("journal", "--read-only"), ("fix", "--all", "--yes", "--reason", "x")],
                         ids=["journal-read-only", "fix"])
def test_a_lab_missing_a_file_is_refused_and_its_journal_is_kept(used_lab, missing, command):
    lab = used_lab
    kept = history(lab)
    (lab.root / missing).unlink()
    r = lab.run(*command)
    one_line_refusal(r, str(lab.root / missing), f"lmdoctor lab reset --lab-dir {lab.root}")
    assert history(lab) == kept and not (lab.root / missing).exists()  # nothing recreated, nothing deleted


def test_lab_reset_is_the_explicit_way_out_and_deletes_the_journal(used_lab):
    (used_lab.root / "hosts.json").unlink()
    used_lab.reset("seed")
    assert not (used_lab.root / "journal.jsonl").exists() and not (used_lab.root / "journal.moves.jsonl").exists()
    assert ids(used_lab.check()[1]) == SEED_IDS


@pytest.mark.parametrize("fresh", ["absent", "empty"])
def test_a_lab_dir_that_does_not_exist_yet_or_is_empty_is_created(tmp_path, fresh):
    lab = Lab(tmp_path / "lab")
    if fresh == "empty":
        lab.root.mkdir()
    code, doc = lab.check()
    assert code == 1 and ids(doc) == SEED_IDS


DAMAGE = {
    "garbage": lambda data: b"\x00\x13garbage{{",
    "truncated": lambda data: data[: len(data) // 2],
    "empty": lambda data: b"",
    "a list": lambda data: b"[]",
    "a number": lambda data: b"42",
    "wrong inner type": lambda data: b'{"CN=x": 5}' if data.lstrip().startswith(b'{\n "CN') else b'{"hosts": 5}',
    "not UTF-8": lambda data: data.replace(b"contoso", b"cont\xffso", 1),
    "deeply nested": lambda data: b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("name", ["hosts.json", "directory.json"])
def test_a_damaged_lab_file_is_one_line_naming_the_file_and_the_way_out(tmp_path, name, damage):
    lab = Lab(tmp_path / "lab")
    lab.reset("seed")
    path = lab.root / name
    path.write_bytes(DAMAGE[damage](path.read_bytes()))
    files = {p.name: p.read_bytes() for p in lab.root.iterdir() if p.is_file()}
    one_line_refusal(lab.run("journal", "--read-only"), str(path), "damaged", "lmdoctor lab reset")
    assert {p.name: p.read_bytes() for p in lab.root.iterdir() if p.is_file()} == files


def test_a_scenario_name_that_is_not_utf8_is_refused(used_lab):
    (used_lab.root / "scenario.txt").write_bytes(b"se\xffed\n")
    one_line_refusal(used_lab.run("check"), str(used_lab.root / "scenario.txt"), "lmdoctor lab reset")


@pytest.mark.parametrize("line", [b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe{}", b'{"time": 5}', b"x" * (2 << 20)],
                         ids=["nested", "not-utf8", "wrong-type", "overlong"])
def test_a_damaged_move_log_is_one_line_naming_the_file_and_line(used_lab, line):
    path = used_lab.root / "journal.moves.jsonl"
    with path.open("ab") as f:
        f.write(line + b"\n")
    one_line_refusal(used_lab.run("report", "--no-check"), f"{path}: line 2")


# --- the journal, edited by hand ---------------------------------------------------------------------------


def journal_lines(lab: Lab) -> list[dict]:
    return [json.loads(line) for line in (lab.root / "journal.jsonl").read_text(encoding="utf-8").splitlines()]


def write_journal(lab: Lab, lines: list[dict]) -> None:
    (lab.root / "journal.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")


@pytest.mark.parametrize("edit, line", [
    (lambda ls: ls[:2] + [ls[1]] + ls[2:], 3),  # a duplicated line
    (lambda ls: [dict(ls[0], seq="1")] + ls[1:], 1),  # a seq that is not an integer
    (lambda ls: ls[:3] + [dict(ls[3], state="rolled_back")], 4),  # a state edited: the change leaves rollback
    (lambda ls: ls + [dict(ls[2], seq=5)], 5),  # an intent appended again: the change would be "in doubt" …
    (lambda ls: ls + [dict(ls[3], seq=5, state="failed", error="edited")], 5),  # … or a false "failed"
])
def test_a_journal_edited_by_hand_is_refused_by_every_command_naming_the_line(used_lab, edit, line):
    lab = used_lab
    write_journal(lab, edit(journal_lines(lab)))
    edited = (lab.root / "journal.jsonl").read_bytes()
    journal = str(lab.root / "journal.jsonl")
    for command in (("journal", "--read-only"), ("journal",), ("rollback", "--all", "--yes"), ("check",)):
        one_line_refusal(lab.run(*command), f"{journal}: line {line} ")
    assert (lab.root / "journal.jsonl").read_bytes() == edited  # nothing settled, appended or rolled back


def test_a_journal_line_of_nested_brackets_is_refused_naming_the_line(used_lab):
    with (used_lab.root / "journal.jsonl").open("ab") as f:
        f.write(b"[" * 100_000 + b"]" * 100_000 + b"\n")
    one_line_refusal(used_lab.run("journal"), f"{used_lab.root / 'journal.jsonl'}: line 5 ")


# --- rollback after an out-of-band case change -------------------------------------------------------------


def delegation_of_hv01(lab: Lab) -> list[str]:
    return json.loads((lab.root / "directory.json").read_text(encoding="utf-8"))[HV01][DELEGATE]


def test_rollback_removes_values_whose_case_was_changed_out_of_band(tmp_path):
    """cifs/HV02 → CIFS/HV02 by hand (AD compares these values case-insensitively): the rollback still
    removes exactly the values lmdoctor added, in one go, and leaves every other value as it is now."""
    lab = Lab(tmp_path / "lab")
    lab.reset("seed")
    original = delegation_of_hv01(lab)
    assert lab.run("fix", "--all", "--yes", "--reason", "CHG-1").returncode == 0
    image = json.loads((lab.root / "directory.json").read_text(encoding="utf-8"))
    image[HV01][DELEGATE] = [v.replace("cifs/", "CIFS/") for v in image[HV01][DELEGATE]]
    (lab.root / "directory.json").write_text(json.dumps(image), encoding="utf-8")

    r = lab.run("rollback", "--all", "--yes", "--reason", "back out")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "rolled back 1 change(s)" in r.stderr
    assert delegation_of_hv01(lab) == [v.replace("cifs/", "CIFS/") for v in original]
    assert [e["state"] for e in journal_lines(lab)] == ["intent", "applied"] * 2
    r = lab.run("journal")
    assert r.returncode == 0 and "settled" not in r.stderr  # no half-applied rollback left to settle
    assert ids(lab.check()[1]) == SEED_IDS
