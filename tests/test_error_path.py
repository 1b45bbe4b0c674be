"""One error path: every lmdoctor error derives from one root carrying a title and an exit code; one function
puts an error into words; an unexpected error (a defect) is one line naming a log file that keeps its traceback,
readable by the user only and holding no secret."""

from __future__ import annotations

import argparse
import secrets
import stat

import pytest

from lmdoctor.cli import commands as cli
from lmdoctor.services.backends.directory.base import DirectoryConflict, DirectoryError
from lmdoctor.services.backends.directory.dnsrecord import DnsRecordError
from lmdoctor.services.backends.hosts.base import HostError, HostUnreachable, Unconfirmed
from lmdoctor.services.backends.hosts.winrm_auth import PlaintextReply
from lmdoctor.services.backends.lab.state import LabError
from lmdoctor.services.domain.errors import LmdoctorError
from lmdoctor.services.domain.inputs import InputError
from lmdoctor.services.domain.rbcd import SecurityDescriptorError
from lmdoctor.services.domain.spn import SpnError
from lmdoctor.services.operations.credssp import CredsspError
from lmdoctor.services.operations.inventory import InventoryError
from lmdoctor.services.operations.lab_admin import NotALab
from lmdoctor.services.operations.migration import MigrationError
from lmdoctor.services.operations.remediation import ReadOnlyError, RemediationError, RollbackConflict
from lmdoctor.services.operations.session import UsageError
from lmdoctor.services.storage import error_log
from lmdoctor.services.storage.config import ConfigError
from lmdoctor.services.storage.credentials import CredentialsUnavailable
from lmdoctor.services.storage.files import RefusedFile
from lmdoctor.services.storage.journal import JournalError
from lmdoctor.services.storage.profiles import ProfileError

WRITE_FAILED = (RemediationError, RollbackConflict, CredsspError)
COULD_NOT_RUN = (ReadOnlyError, UsageError, DirectoryError, DirectoryConflict, DnsRecordError, HostError,
                 HostUnreachable, Unconfirmed, PlaintextReply, LabError, InputError, SecurityDescriptorError,
                 SpnError, InventoryError, NotALab, MigrationError, ConfigError, CredentialsUnavailable,
                 RefusedFile, JournalError, ProfileError)


@pytest.mark.parametrize("kind", WRITE_FAILED + COULD_NOT_RUN)
def test_every_error_has_the_one_root_and_keeps_its_other_bases(kind):
    assert issubclass(kind, LmdoctorError) and kind.title
    assert kind.exit_code == (1 if kind in WRITE_FAILED else 2)
    assert error_log.describe(kind("the DC refused the bind")) == "the DC refused the bind"
    assert issubclass(InputError, argparse.ArgumentTypeError) and issubclass(SpnError, ValueError)
    assert issubclass(RefusedFile, OSError) and issubclass(NotALab, OSError)


@pytest.mark.parametrize(("kind", "code"), [(RemediationError, 1), (CredsspError, 1), (ReadOnlyError, 2),
                                            (MigrationError, 2), (JournalError, 2), (PermissionError, 2)])
def test_the_cli_prints_the_error_in_one_line_with_its_exit_code(kind, code, isolated_dirs, monkeypatch, capsys):
    def fail(_args):
        raise kind("the change did not land")

    monkeypatch.setattr(cli, "cmd_lab", fail)
    assert cli.main(["lab", "scenarios"]) == code
    assert capsys.readouterr().err == "lmdoctor: the change did not land\n"
    assert not error_log.log_path().exists()  # an expected error is no defect: nothing logged


def test_an_unexpected_error_is_one_line_naming_the_log_which_keeps_the_traceback_and_no_secret(
        isolated_dirs, monkeypatch, capsys):
    password = "Lmd-" + secrets.token_urlsafe(18)

    def defect(_args):
        bind_password = password  # a secret in the failing frame's locals: tracebacks print no locals
        return {"bind": bind_password}["missing key"]

    monkeypatch.setattr(cli, "cmd_lab", defect)
    assert cli.main(["lab", "scenarios"]) == 2
    err = capsys.readouterr().err
    log = error_log.log_path()
    assert log.parent == isolated_dirs["data"]
    assert err.count("\n") == 1 and "KeyError" in err and str(log) in err and password not in err
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "in defect" in text and "KeyError: 'missing key'" in text
    assert password not in text
    assert stat.S_IMODE(log.stat().st_mode) == 0o600

    assert cli.main(["lab", "scenarios"]) == 2  # a second defect is appended, not written over
    assert log.read_text().count("Traceback (most recent call last)") == 2


def test_a_log_that_cannot_be_written_is_still_one_line(isolated_dirs, monkeypatch):
    isolated_dirs["data"].rmdir()
    isolated_dirs["data"].write_text("a file where the data directory should be")
    line = error_log.describe(RuntimeError("boom"))
    assert "RuntimeError" in line and "could not be logged" in line and "\n" not in line
