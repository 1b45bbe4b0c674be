"""Credentials live only in the OS keyring; there is no file fallback."""

from __future__ import annotations

import sys
from collections.abc import Callable

import keyring
from keyring.errors import KeyringError

from lmdoctor.services.domain.errors import LmdoctorError

SERVICE = "lmdoctor"


class CredentialsUnavailable(LmdoctorError):
    """No usable OS keyring (the message says which backend and why)."""


def _key(profile: str, user: str) -> str:
    return f"{profile}:{user}"


def _backend_usable() -> None:
    backend = keyring.get_keyring()
    if backend.priority <= 0 or type(backend).__module__.startswith(("keyring.backends.fail", "keyrings.alt")):
        raise CredentialsUnavailable(
            f"no secure OS keyring is available (backend {type(backend).__name__}); lmdoctor will ask for the "
            "password each session instead of storing it")


def get_password(profile: str, user: str) -> str | None:
    _backend_usable()
    try:
        return keyring.get_password(SERVICE, _key(profile, user))
    except KeyringError as exc:
        raise CredentialsUnavailable(f"the OS keyring refused to read: {type(exc).__name__}") from None


def set_password(profile: str, user: str, password: str) -> None:
    _backend_usable()
    try:
        keyring.set_password(SERVICE, _key(profile, user), password)
    except KeyringError as exc:
        raise CredentialsUnavailable(f"the OS keyring refused to store: {type(exc).__name__}") from None


def delete_password(profile: str, user: str) -> None:
    _backend_usable()
    try:
        keyring.delete_password(SERVICE, _key(profile, user))
    except keyring.errors.PasswordDeleteError:
        pass
    except KeyringError as exc:
        raise CredentialsUnavailable(f"the OS keyring refused to delete: {type(exc).__name__}") from None


Prompt = Callable[[str], "str | None"]


def lookup(profile: str, user: str, prompt: Prompt | None) -> str | None:
    """The password for `user`: from the OS keyring; else asked through `prompt` for this session only.

    With no usable keyring the prompt says so; with no keyring and no way to ask, CredentialsUnavailable
    carries the reason. The answer is never stored anywhere."""
    try:
        secret = get_password(profile, user)
    except CredentialsUnavailable as exc:
        answer = prompt(f"{exc}. Password for {user} (profile {profile}), for this session only") if prompt else None
        if not answer:
            raise CredentialsUnavailable(f"{exc}, and there is no terminal to ask on") from None
        return answer
    if secret is None and prompt is not None:
        secret = prompt(f"Password for {user} (profile {profile}; not in the OS keyring, not stored)") or None
    return secret


def ask_on_terminal(label: str) -> str | None:
    """Ask for a password on the terminal (never echoed, never stored); None when there is no terminal."""
    if not sys.stdin.isatty():
        return None
    import getpass
    return getpass.getpass(f"{label}: ")
