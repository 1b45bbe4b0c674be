"""Shared fixtures: every test runs with its own data/config directories and, when it asks, its own lab."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import keyring
import pytest
from hypothesis import HealthCheck, settings

from lmdoctor.services.operations import lab_admin as manage
from lmdoctor.services.operations.session import Session, open_demo
from lmdoctor.services.storage import credentials
from tests.support.ci import in_ci
from tests.support.cli_lab import Lab

REPO = Path(__file__).resolve().parent.parent
SECRET_SERVICE = "keyring.backends.SecretService"

settings.register_profile("lmdoctor", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", parent=settings.get_profile("lmdoctor"), max_examples=5000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "lmdoctor"))


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Point lmdoctor's data and config directories into a temporary folder: no test touches the real home."""
    root = tmp_path_factory.mktemp("lmdoctor-home")
    dirs = {"data": root / "data", "config": root / "config"}
    for path in dirs.values():
        path.mkdir()
    monkeypatch.setenv("LMDOCTOR_DATA_DIR", str(dirs["data"]))
    monkeypatch.setenv("LMDOCTOR_CONFIG_DIR", str(dirs["config"]))
    return dirs


@pytest.fixture
def lab_dir(tmp_path: Path) -> Path:
    """A fresh seed lab in tmp_path."""
    root = tmp_path / "lab"
    manage.reset(root, "seed")
    return root


@pytest.fixture
def lab_session(tmp_path: Path) -> Iterator[Callable[..., Session]]:
    """Factory: lab_session("kerberos-only") resets a lab to that scenario and opens a demo session on it.

    Moves run without the demo's step delay; every session opened is closed after the test."""
    opened: list[Session] = []

    def make(scenario: str = "seed", read_only: bool = False, lab_dir: Path | None = None) -> Session:
        root = lab_dir or tmp_path / f"lab-{scenario}-{len(opened)}"
        manage.reset(root, scenario)
        session = open_demo(root, read_only=read_only, step_delay=0)
        opened.append(session)
        return session

    yield make
    for session in opened:
        session.close()


@pytest.fixture
def secret_service() -> Iterator[object]:
    """The real Secret Service (tests/with-keyring.sh); fail under CI, skip elsewhere, when it is not there."""
    backend = keyring.get_keyring()
    problem = None
    if not type(backend).__module__.startswith(SECRET_SERVICE):
        problem = f"the keyring backend is {type(backend).__module__}.{type(backend).__name__}, not the Secret Service"
    else:
        try:
            credentials.get_password("lmdoctor-probe", "nobody")
        except credentials.CredentialsUnavailable as exc:
            problem = str(exc)
    if problem:
        message = f"{problem}; run the tests under tests/with-keyring.sh"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    yield backend


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    """A seed lab in a fresh folder, driven through the CLI."""
    lab = Lab(tmp_path / "lab")
    lab.reset("seed")
    return lab


# --- the real-server suites' runtime, printed at the end of every run ----------------------------------------
_SUITE_MARKERS = ("samba", "psrp", "keyring", "tmux", "winrm_kerberos")
_suite_seconds: dict[str, float] = {}
_suite_tests: dict[str, set[str]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Add each phase's duration (setup includes starting a DC) to the suites its test is marked with."""
    for marker in _SUITE_MARKERS:
        if marker in report.keywords:
            _suite_seconds[marker] = _suite_seconds.get(marker, 0.0) + report.duration
            _suite_tests.setdefault(marker, set()).add(report.nodeid)


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001 - pytest's TerminalReporter
    if not _suite_seconds:
        return
    parts = [f"{m}: {len(_suite_tests[m])} tests in {_suite_seconds[m]:.1f} s" for m in _SUITE_MARKERS
             if m in _suite_seconds]
    terminalreporter.write_line("real-server suites — " + " · ".join(parts))
