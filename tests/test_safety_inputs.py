"""Hostile input: host and VM names, reasons, finding ids, profiles and journals.

Each is refused with a clear error naming the field (exit 2), or — where the value is legal but
strange — handled harmlessly; in every case nothing is written (all files compared byte for byte)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmdoctor.cli import commands as cli
from tests.support.files import files_under

LDAP_META = ["HV02*", "HV02)(objectClass=*)", "HV\\02", "(HV02)", "HV02\x00"]
POWERSHELL_META = ["HV02;Remove-Item C:\\", "$(Get-Process)", "HV02`n", "HV02'", "HV02|Out-Null", "@HV02"]
UNICODE = ["HV０２", "НV02", "HV02\u200b", "ＨＶ０２", "HV02\u202e"]
LONG = "H" * 10_000


@pytest.fixture
def lab_files(lab_dir: Path, isolated_dirs) -> tuple[Path, list[Path]]:
    """The seed lab, and every folder a refused command must leave as it was."""
    return lab_dir, [lab_dir, isolated_dirs["data"], isolated_dirs["config"]]


def run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse refuses a bad value before anything runs
        code = exc.code
    return code, capsys.readouterr().err


def demo(root: Path, *args: str) -> list[str]:
    return [args[0], "--demo", "--lab-dir", str(root), *args[1:]]


@pytest.mark.parametrize("value", LDAP_META + POWERSHELL_META + UNICODE + [LONG, "", "-", "HV02."])
@pytest.mark.parametrize("option", ["--to", "--from"])
def test_bad_host_names_are_refused_naming_the_option(lab_files, capsys, option, value):
    root, dirs = lab_files
    before = files_under(*dirs)
    args = ["--vm", "APP01", "--to", "HV02"] + ([option, value] if option == "--from" else [])
    if option == "--to":
        args[3] = value
    code, err = run(demo(root, "migrate", *args), capsys)
    assert code == 2
    assert f"argument {option}" in err and ("not a valid host name" in err)
    assert len(err) < 600  # a 10,000-character value is not echoed back
    assert files_under(*dirs) == before


@pytest.mark.parametrize("value", ["APP*", "APP0?", "[APP]01", "APP01\x00", "APP\n01", " APP01", "APP01 ", "",
                                   "A" * 10_000, "APP\u202e10", "APP\x1b[31m"])
def test_bad_vm_names_are_refused_naming_the_option(lab_files, capsys, value):
    root, dirs = lab_files
    before = files_under(*dirs)
    code, err = run(demo(root, "migrate", "--vm", value, "--to", "HV02"), capsys)
    assert code == 2 and "argument --vm" in err and len(err) < 600
    assert files_under(*dirs) == before


@pytest.mark.parametrize("value", ["APP01'; Stop-Computer -Force; '", "$(Remove-VM -Name APP01 -Force)",
                                   "APP01)(cn=x", "Ünïcødé VM ✓", "APP01`; calc", "A" * 100])
def test_legal_but_strange_vm_names_are_passed_as_data_and_change_nothing(lab_files, capsys, value):
    root, dirs = lab_files
    before = files_under(*dirs)
    code, err = run(demo(root, "migrate", "--vm", value, "--to", "HV02"), capsys)
    assert code == 2 and "was not found on any of" in err
    assert files_under(*dirs) == before


@pytest.mark.parametrize("value", ["", "   ", "CHG-1\nrm -rf /", "CHG\x00", "R" * 10_000, "CHG\u2028x"])
def test_bad_reasons_are_refused_before_anything_is_written(lab_files, capsys, value):
    root, dirs = lab_files
    before = files_under(*dirs)
    code, err = run(demo(root, "fix", "--all", "--yes", "--reason", value), capsys)
    assert code == 2 and "argument --reason" in err and len(err) < 600
    assert files_under(*dirs) == before


def test_reasons_may_use_joiners_but_not_bidi_overrides():
    from lmdoctor.services.domain import inputs

    assert inputs.reason("تغییر\u200cها CHG-8") == "تغییر\u200cها CHG-8"
    with pytest.raises(inputs.InputError, match="control character"):
        inputs.reason("CHG-8 \u202egnp.exe")


def test_a_unicode_reason_is_kept_exactly(lab_files, capsys):
    root, _dirs = lab_files
    code, _err = run(demo(root, "fix", "--all", "--yes", "--reason", "Änderung CHG-7 — Wartungsfenster ✓ 変更"), capsys)
    assert code == 0
    from lmdoctor.services.storage.journal import Journal

    assert {e.reason for e in Journal(root / "journal.jsonl").entries()} == {"Änderung CHG-7 — Wartungsfenster ✓ 変更"}


@pytest.mark.parametrize("value", ["*", "delegation.missing:HV01:HV02)(x=*", "delegation.missing:HV01:HV02\x00",
                                   "x" * 10_000, "delegation.missing:HV01"])
def test_bad_finding_ids_are_refused(lab_files, capsys, value):
    root, dirs = lab_files
    before = files_under(*dirs)
    code, err = run(demo(root, "fix", "--finding", value, "--yes", "--reason", "CHG-1"), capsys)
    assert code == 2 and "argument --finding" in err and len(err) < 600
    assert files_under(*dirs) == before


@pytest.mark.parametrize("value", ["HV03*", "HV03)(cn=*", "HV03;Set-VMHost", LONG])
def test_bad_credssp_hosts_are_refused(lab_files, capsys, value):
    root, dirs = lab_files
    before = files_under(*dirs)
    code, err = run(demo(root, "credssp", "--open", value, "--reason", "CHG-1", "--yes"), capsys)
    assert code == 2 and "argument --open" in err
    assert files_under(*dirs) == before


# --- profiles --------------------------------------------------------------------------------

GOOD = 'domain = "contoso.local"\ndc = "dc01.contoso.local"\nbind_user = "admin@contoso.local"\ncluster = "HVCLUSTER"\n'
HOSTILE_PROFILES = {
    "ldap-meta-dc": (GOOD.replace("dc01.contoso.local", "dc01)(objectClass=*"), "dc"),
    "star-node": (GOOD + 'nodes = ["HV01", "HV0*"]\n', "nodes"),
    "nul-node": (GOOD + 'nodes = ["HV01\\u0000"]\n', "nodes"),
    "ps-node": (GOOD + 'nodes = ["HV01;Remove-Item"]\n', "nodes"),
    "unicode-dc": (GOOD.replace("dc01.contoso.local", "dс01.contoso.local"), "dc"),  # Cyrillic с
    "long-domain": (GOOD.replace("contoso.local\"\ndc", "c" * 10_000 + "\"\ndc"), "domain"),
    "bind-user-filter": (GOOD.replace("admin@contoso.local", "admin*)(uid=*"), "bind_user"),
    "password": (GOOD + 'password = "hunter2-in-a-file"\n', "password"),
    "port": (GOOD + "ldap_port = 70000\n", "ldap_port"),
    "type": (GOOD + 'read_only = "yes please"\n', "read_only"),
    "unknown-key": (GOOD + 'dc_fallback = "plain-ldap"\n', "dc_fallback"),
    "timeout": (GOOD + "timeout_s = 1e309\n", "timeout_s"),
    "not-toml": ("domain = contoso.local\n", "not valid TOML"),
    "deep": ("a = " + "[" * 3000 + "]" * 3000 + "\n", "not valid TOML"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_PROFILES))
def test_hostile_profiles_are_refused_naming_the_field_and_write_nothing(isolated_dirs, capsys, name):
    text, field = HOSTILE_PROFILES[name]
    folder = isolated_dirs["config"] / "profiles"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.toml").write_text(text, encoding="utf-8")
    before = files_under(isolated_dirs["data"], isolated_dirs["config"])
    code, err = run(["check", "--profile", name], capsys)
    assert code == 2
    assert err.startswith(f"lmdoctor: profile {name}: ") and field in err
    assert err.count("\n") == 1 and len(err) < 800
    assert "hunter2-in-a-file" not in err
    assert files_under(isolated_dirs["data"], isolated_dirs["config"]) == before


def test_binary_profile_is_refused(isolated_dirs, capsys):
    folder = isolated_dirs["config"] / "profiles"
    folder.mkdir(exist_ok=True)
    (folder / "bin.toml").write_bytes(b"\xff\xfe\x00garbage\x80")
    code, err = run(["check", "--profile", "bin"], capsys)
    assert code == 2 and "not UTF-8" in err and "Traceback" not in err


# --- journals --------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["truncate", "edit-state", "edit-values", "garbage", "nul"])
def test_damaged_journal_stops_every_write_command_naming_the_line(lab_files, capsys, damage):
    root, dirs = lab_files
    assert run(demo(root, "fix", "--all", "--yes", "--reason", "CHG-1"), capsys)[0] == 0
    journal = root / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    if damage == "truncate":
        lines[-1] = lines[-1][:25]
    elif damage == "edit-state":
        lines[1] = lines[1].replace(b'"applied"', b'"done"')
    elif damage == "edit-values":
        lines[1] = lines[1].replace(b'"before":[', b'"before":{')
    elif damage == "garbage":
        lines.insert(2, b"\xff\xfe not json\n")
    else:
        lines[1] = lines[1][:10] + b"\x00" + lines[1][10:]
    journal.write_bytes(b"".join(lines))
    before = files_under(*dirs)
    for argv in (demo(root, "fix", "--all", "--yes", "--reason", "CHG-2"), demo(root, "rollback", "--all", "--yes"),
                 demo(root, "check"), demo(root, "credssp", "--open", "HV03", "--reason", "x", "--yes")):
        code, err = run(argv, capsys)
        assert code == 2, argv
        assert "journal.jsonl: line " in err and err.count("\n") == 1
    assert files_under(*dirs) == before
