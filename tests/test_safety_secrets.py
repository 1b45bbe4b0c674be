"""Secrets: only in the real OS keyring (Secret Service); with no usable keyring, say so, ask per session, write nothing."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import keyring
import pytest
from keyring.backends import fail

from lmdoctor.cli import commands as cli
from lmdoctor.services.operations.session import password_for
from lmdoctor.services.storage import credentials, profiles
from lmdoctor.services.storage.profiles import Profile
from tests.support.files import files_under


@pytest.fixture
def no_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


PROFILE = Profile(name="prod", domain="contoso.local", dc="dc01.contoso.local", bind_user="admin@contoso.local",
                  cluster="HVCLUSTER")


@pytest.mark.keyring
def test_real_secret_service_round_trip_through_credentials(secret_service, isolated_dirs):
    password = "Lmd-" + secrets.token_urlsafe(18)
    user = f"user-{secrets.token_hex(4)}@contoso.local"
    before = files_under(isolated_dirs["data"], isolated_dirs["config"])
    credentials.set_password("prod", user, password)
    try:
        assert credentials.get_password("prod", user) == password
        assert password_for(PROFILE, user, prompt=lambda _l: pytest.fail("asked although the keyring has it")) == password
        assert files_under(isolated_dirs["data"], isolated_dirs["config"]) == before
    finally:
        credentials.delete_password("prod", user)
    assert credentials.get_password("prod", user) is None


def test_no_keyring_says_so_asks_for_the_session_and_writes_no_file(no_keyring, isolated_dirs, tmp_path, monkeypatch):
    home = tmp_path / "home"  # a throw-away HOME: a file fallback would have to land here
    home.mkdir()
    for var, sub in (("HOME", ""), ("XDG_DATA_HOME", ".local/share"), ("XDG_CONFIG_HOME", ".config")):
        monkeypatch.setenv(var, str(home / sub))
    before = files_under(isolated_dirs["data"], isolated_dirs["config"], home)
    with pytest.raises(credentials.CredentialsUnavailable, match="no secure OS keyring is available"):
        credentials.set_password("prod", "admin@contoso.local", "Typed-Once-1!")
    asked: list[str] = []

    def prompt(label: str) -> str:
        asked.append(label)
        return "Typed-Once-1!"

    assert password_for(PROFILE, "admin@contoso.local", prompt) == "Typed-Once-1!"
    assert password_for(PROFILE, "admin@contoso.local", prompt) == "Typed-Once-1!"  # asked again: nothing kept
    assert len(asked) == 2
    assert "no secure OS keyring is available" in asked[0] and "for this session only" in asked[0]
    assert files_under(isolated_dirs["data"], isolated_dirs["config"], home) == before


def test_no_keyring_and_no_terminal_is_one_clear_line(no_keyring, isolated_dirs, capsys):
    profiles.save(PROFILE)
    code = cli.main(["check", "--profile", "prod"])  # stdin is not a terminal under pytest
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "no secure OS keyring is available" in err and "no terminal to ask" in err


def test_a_profile_never_takes_a_password(tmp_path):
    with pytest.raises(profiles.ProfileError, match="profiles never hold secrets"):
        profiles.parse('domain = "a.b"\ndc = "dc.a.b"\nbind_user = "u@a.b"\ncluster = "C"\npassword = "Zz-9"\n', "p")
