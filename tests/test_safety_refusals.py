"""Refusals that must hold, each an attack that once succeeded: read-only means read-only, a value with a
trailing newline is not a host name, bad numbers are bad input, and lmdoctor writes only where it may.

The CLI runs as a subprocess with its own data and config directories (tests/conftest.py)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from lmdoctor.services.domain import inputs
from lmdoctor.services.operations import lab_admin as manage
from lmdoctor.services.operations.inventory import take_snapshot
from lmdoctor.services.operations.migration import MoveRequest, run_test_move
from lmdoctor.services.operations.remediation import ReadOnlyError
from lmdoctor.services.operations.session import open_demo
from lmdoctor.services.operations.walkthrough import TestMove as ChosenMove
from lmdoctor.services.operations.walkthrough import Walkthrough
from lmdoctor.services.storage import config, files, profiles
from tests.support.cli_lab import REPO, Lab, lmdoctor
from tests.support.files import files_under

GOOD_PROFILE = ('domain = "contoso.local"\ndc = "dc01.contoso.local"\nbind_user = "admin@contoso.local"\n'
                'cluster = "HVCLUSTER"\n')


def one_line_refusal(r: subprocess.CompletedProcess) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.startswith("lmdoctor: ") and r.stderr.count("\n") == 1, r.stderr
    assert "Traceback" not in r.stderr


@pytest.fixture
def healthy_lab(tmp_path: Path) -> Lab:
    """A lab where a live move of APP01 HV01 → HV02 succeeds: a refused move is visible as a VM not moved."""
    lab = Lab(tmp_path / "lab")
    lab.reset("healthy")
    return lab


# --- read-only -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["fix", "--all", "--yes", "--reason", "CHG-1"],
    ["migrate", "--vm", "APP01", "--to", "HV02", "--yes", "--reason", "CHG-1"],
    ["credssp", "--open", "HV03", "--reason", "CHG-1", "--yes"],
])
def test_read_only_given_before_the_command_is_kept(tmp_path, argv):
    """`lmdoctor --read-only fix …` once dropped --read-only (the sub-command's default overwrote it) and wrote."""
    lab = Lab(tmp_path / "lab")
    lab.reset("seed")
    before = files_under(lab.root)
    r = lmdoctor("--read-only", "--demo", "--lab-dir", str(lab.root), *argv)
    assert r.returncode == 2, r.stderr
    assert r.stderr.splitlines()[-1].startswith("lmdoctor: read-only: refusing")  # fix previews first
    assert files_under(lab.root) == before


def test_lab_dir_given_before_the_command_is_the_lab_used(tmp_path, isolated_dirs):
    """`lmdoctor --lab-dir L lab reset` once reset the default lab instead of L (and deleted its journal)."""
    root = tmp_path / "lab"
    r = lmdoctor("--lab-dir", str(root), "lab", "reset", "--scenario", "healthy")
    assert r.returncode == 0, r.stderr
    assert (root / "scenario.txt").read_text(encoding="utf-8") == "healthy\n"
    assert not (isolated_dirs["data"] / "lab").exists()
    r = lmdoctor("--demo", "--lab-dir", str(root), "journal")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("where", ["before", "after"])
def test_read_only_lab_reset_refuses_and_keeps_the_journal(where):
    lab = Lab(Path(os.environ["LMDOCTOR_DATA_DIR"]) / "lab")
    lab.reset("seed")
    assert lab.run("fix", "--all", "--yes", "--reason", "CHG-1").returncode == 0
    before = files_under(lab.root)
    argv = (["--read-only", "lab", "reset", "--lab-dir", str(lab.root)] if where == "before"
            else ["lab", "reset", "--read-only", "--lab-dir", str(lab.root)])
    r = lmdoctor(*argv)
    one_line_refusal(r)
    assert "read-only" in r.stderr and "lab" in r.stderr
    assert files_under(lab.root) == before and (lab.root / "journal.jsonl").stat().st_size > 0


def test_read_only_session_refuses_every_write_and_live_move_at_the_gateway(healthy_lab):
    """The session gives every front end gateways that refuse: a front end that forgets to ask still cannot write."""
    before = files_under(healthy_lab.root)
    session = open_demo(healthy_lab.root, read_only=True, step_delay=0)
    try:
        dn = "CN=HV01,CN=Computers,DC=contoso,DC=local"
        refused = [
            lambda: session.hosts.move_vm("APP01", "HV01", "HV02"),
            lambda: session.hosts.set_migration_enabled("HV02", False),
            lambda: session.hosts.purge_tickets("HV01"),
            lambda: session.directory.add_values(dn, "msDS-AllowedToDelegateTo", ["cifs/HV09"]),
            lambda: session.directory.remove_values(dn, "msDS-AllowedToDelegateTo", ["cifs/HV02"]),
            lambda: session.directory.change_uac(dn, 0x1000000, 0),
            lambda: run_test_move(session.hosts, MoveRequest(vm="APP01", destination="HV02"), ["HV01", "HV02"]),
        ]
        for attempt in refused:
            with pytest.raises(ReadOnlyError, match="read-only"):
                attempt()
        # reads and the pre-flight (-WhatIf) still work
        assert run_test_move(session.hosts, MoveRequest(vm="APP01", destination="HV02", what_if_only=True),
                             ["HV01", "HV02"]).ok
        assert session.hosts.get_vm("HV01", "APP01") is not None
        assert session.directory.read_values(dn, "msDS-AllowedToDelegateTo")
    finally:
        session.close()
    assert files_under(healthy_lab.root) == before


def test_read_only_walkthrough_verify_does_not_move(healthy_lab):
    session = open_demo(healthy_lab.root, read_only=True, step_delay=0)
    try:
        walkthrough = Walkthrough(session)
        snapshot = take_snapshot(session.directory, session.hosts, session.cluster)
        walkthrough.state.test_move = ChosenMove(vm="APP01", source="HV01", destination="HV02")
        with pytest.raises(ReadOnlyError):
            walkthrough.run_verify(snapshot, "CHG-1 verify")
        assert session.hosts.get_vm("HV01", "APP01") is not None and session.hosts.get_vm("HV02", "APP01") is None
    finally:
        session.close()


# --- validation patterns: a trailing newline is not part of a name ------------------------------------------


@pytest.mark.parametrize("argv, option", [
    (["migrate", "--vm", "APP01", "--to", "HV02\n"], "--to"),
    (["migrate", "--vm", "APP01", "--to", "HV02", "--from", "HV01\n"], "--from"),
    (["credssp", "--open", "HV03\n", "--reason", "CHG-1", "--yes"], "--open"),
    (["credssp", "--revert", "--host", "HV03\n", "--reason", "CHG-1", "--yes"], "--host"),
    (["fix", "--finding", "delegation.missing:HV01:HV02\n", "--yes", "--reason", "CHG-1"], "--finding"),
])
def test_a_trailing_newline_is_refused(tmp_path, argv, option):
    lab = Lab(tmp_path / "lab")
    lab.reset("seed")
    before = files_under(lab.root)
    r = lab.run(*argv)
    assert r.returncode == 2 and f"argument {option}" in r.stderr, r.stderr
    assert files_under(lab.root) == before


@pytest.mark.parametrize("check", [
    lambda: inputs.host_name("HV02\n"),
    lambda: inputs.finding_id("delegation.missing:HV01:HV02\n"),
    lambda: profiles.profile_path("prod\n"),
    lambda: profiles.parse(GOOD_PROFILE.replace('"dc01.contoso.local"', '"dc01.contoso.local\\n"'), "p"),
    lambda: profiles.parse(GOOD_PROFILE.replace('"contoso.local"', '"contoso.local\\n"', 1), "p"),
    lambda: profiles.parse(GOOD_PROFILE + 'nodes = ["HV01\\n"]\n', "p"),
])
def test_validation_patterns_match_the_whole_value(check):
    with pytest.raises((inputs.InputError, profiles.ProfileError, ValueError)):
        check()


def test_a_profile_whose_dc_ends_in_a_newline_is_refused(isolated_dirs):
    folder = isolated_dirs["config"] / "profiles"
    folder.mkdir()
    (folder / "nl.toml").write_text(GOOD_PROFILE.replace('"dc01.contoso.local"', '"dc01.contoso.local\\n"'),
                                    encoding="utf-8")
    r = lmdoctor("check", "--profile", "nl")
    one_line_refusal(r)
    assert "dc" in r.stderr and "not a valid host name" in r.stderr


# --- numbers ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("minutes", ["0", "-5", "481", "99999999999999999999", "1e3", "\u0663", "", " 5", "1_0"])
def test_bad_credssp_minutes_are_bad_input(tmp_path, minutes):
    lab = Lab(tmp_path / "lab")
    lab.reset("seed")
    before = files_under(lab.root)
    r = lab.run("credssp", "--open", "HV03", "--minutes", minutes, "--reason", "CHG-1", "--yes")
    assert r.returncode == 2 and "argument --minutes" in r.stderr, r.stderr
    assert files_under(lab.root) == before


def test_the_longest_credssp_window_is_accepted(tmp_path):
    lab = Lab(tmp_path / "lab")
    lab.reset("seed")
    r = lab.run("credssp", "--open", "HV03", "--minutes", "480", "--reason", "CHG-1", "--yes")
    assert r.returncode == 0, r.stderr
    assert "CredSSP window on HV03: 8h 00m" in r.stderr or "CredSSP window on HV03: 7h 59m" in r.stderr


# --- files lmdoctor writes ------------------------------------------------------------------------------------


def refuses_report_onto(lab: Lab, target: Path) -> subprocess.CompletedProcess:
    r = lab.run("report", "--no-check", "--out", str(target))
    one_line_refusal(r)
    assert str(target) in r.stderr
    return r


def test_report_through_a_symlink_is_refused_and_the_link_and_its_target_kept(healthy_lab, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    link = tmp_path / "report.md"
    link.symlink_to(victim)
    r = refuses_report_onto(healthy_lab, link)
    assert "symbolic link" in r.stderr
    assert link.is_symlink() and os.readlink(link) == str(victim)
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab", "report.md", "victim.txt"]  # no temporary file left


def test_report_onto_a_fifo_is_refused_without_hanging(healthy_lab, tmp_path):
    fifo = tmp_path / "report.md"
    os.mkfifo(fifo)
    refuses_report_onto(healthy_lab, fifo)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_report_onto_a_device_node_is_refused_and_the_node_kept(healthy_lab, tmp_path):
    """As root it once replaced /dev/full with a regular file; here a private node with /dev/full's numbers."""
    node = tmp_path / "full"
    try:
        os.mknod(node, 0o600 | stat.S_IFCHR, os.makedev(1, 7))
    except PermissionError:
        pytest.skip("creating a device node needs root")
    refuses_report_onto(healthy_lab, node)
    assert stat.S_ISCHR(node.lstat().st_mode) and node.lstat().st_rdev == os.makedev(1, 7)


def test_report_onto_a_directory_is_refused(healthy_lab, tmp_path):
    refuses_report_onto(healthy_lab, tmp_path)


def test_report_onto_a_regular_file_replaces_it(healthy_lab, tmp_path):
    out = tmp_path / "report.md"
    out.write_text("old\n", encoding="utf-8")
    r = healthy_lab.run("report", "--no-check", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_text(encoding="utf-8").startswith("#") and not out.is_symlink()


def test_atomic_write_never_replaces_what_is_not_a_regular_file(tmp_path):
    link = tmp_path / "profile.toml"
    link.symlink_to(tmp_path / "elsewhere.toml")
    with pytest.raises(files.RefusedFile, match="symbolic link"):
        files.atomic_write(link, "x")
    assert link.is_symlink() and not (tmp_path / "elsewhere.toml").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["profile.toml"]


def profile_file(isolated_dirs: dict[str, Path], name: str = "p") -> Path:
    folder = isolated_dirs["config"] / "profiles"
    folder.mkdir(exist_ok=True)
    return folder / f"{name}.toml"


def test_a_profile_that_is_a_fifo_is_refused_without_hanging(isolated_dirs):
    os.mkfifo(profile_file(isolated_dirs))
    r = lmdoctor("check", "--profile", "p", timeout=30)
    one_line_refusal(r)
    assert "profile p" in r.stderr and "not a regular file" in r.stderr


def test_a_profile_linked_to_an_endless_device_is_refused_without_hanging(isolated_dirs):
    profile_file(isolated_dirs).symlink_to("/dev/zero")
    r = lmdoctor("check", "--profile", "p", timeout=30)
    one_line_refusal(r)
    assert "not a regular file" in r.stderr


def test_an_oversized_profile_is_refused(isolated_dirs):
    profile_file(isolated_dirs).write_text(GOOD_PROFILE + "# " + "x" * (2 * 1024 * 1024) + "\n", encoding="utf-8")
    r = lmdoctor("check", "--profile", "p", timeout=30)
    one_line_refusal(r)
    assert "larger than" in r.stderr


def test_a_profile_linked_to_a_regular_file_still_loads(isolated_dirs, tmp_path):
    real = tmp_path / "shared.toml"
    real.write_text(GOOD_PROFILE, encoding="utf-8")
    profile_file(isolated_dirs).symlink_to(real)
    assert profiles.load("p").dc == "dc01.contoso.local"


def test_a_console_config_that_is_a_fifo_is_refused(tmp_path):
    fifo = tmp_path / "console.toml"
    os.mkfifo(fifo)
    with pytest.raises(config.ConfigError, match="not a regular file"):
        config.load(fifo)


# --- the lab directory ---------------------------------------------------------------------------------------


def run_in(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "lmdoctor.cli.main", *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def busy_dir(tmp_path: Path) -> Path:
    """A directory that is not empty and not a lab, standing in for / or a home directory."""
    root = tmp_path / "busy"
    (root / "etc").mkdir(parents=True)
    (root / "notes.txt").write_text("mine\n", encoding="utf-8")
    return root


@pytest.mark.parametrize("argv", [["check", "--demo"], ["journal", "--demo"], ["lab", "reset"]])
def test_a_lab_dir_that_is_not_a_lab_is_refused(busy_dir, argv):
    before = files_under(busy_dir)
    r = lmdoctor(*argv, "--lab-dir", str(busy_dir))
    one_line_refusal(r)
    assert str(busy_dir) in r.stderr and "not a lab" in r.stderr
    assert files_under(busy_dir) == before and sorted(p.name for p in busy_dir.iterdir()) == ["etc", "notes.txt"]


@pytest.mark.parametrize("argv", [["check", "--demo"], ["lab", "reset"]])
def test_an_empty_lab_dir_is_refused_not_taken_as_the_working_directory(busy_dir, argv):
    before = files_under(busy_dir)
    r = run_in(busy_dir, *argv, "--lab-dir", "")
    assert r.returncode == 2 and "--lab-dir" in r.stderr, r.stderr
    assert files_under(busy_dir) == before and sorted(p.name for p in busy_dir.iterdir()) == ["etc", "notes.txt"]


def test_the_root_directory_is_not_a_lab():
    with pytest.raises(manage.NotALab, match="not a lab"):
        manage.check_lab_dir(Path("/"))


def test_a_new_an_empty_and_an_existing_lab_dir_are_accepted(tmp_path):
    new, empty = tmp_path / "new", tmp_path / "empty"
    empty.mkdir()
    for root in (new, empty):
        r = lmdoctor("lab", "reset", "--lab-dir", str(root))
        assert r.returncode == 0, r.stderr
        r = lmdoctor("lab", "reset", "--scenario", "healthy", "--lab-dir", str(root))  # a lab is reset again
        assert r.returncode == 0, r.stderr
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    r = lmdoctor("check", "--demo", "--lab-dir", str(fresh))
    assert r.returncode == 1, r.stderr  # created there: the seed has findings
