"""Fixtures for the real Samba AD DC: one provisioned template per session, a fresh DC per module.

Without root, ``ip netns`` or the Samba binaries the tests are skipped with the reason; when the
``CI`` environment variable is set they fail instead, so CI never skips them silently.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from itertools import count
from pathlib import Path

import pytest

REPO = str(Path(__file__).resolve().parents[2])
if REPO not in sys.path:  # plain `pytest` (not `python -m pytest`) does not put the repo on sys.path
    sys.path.insert(0, REPO)

from lmdoctor.services.storage.profiles import Profile  # noqa: E402
from tests.samba.harness import SambaDC, Template, environment_problem, log, provision_template  # noqa: E402
from tests.samba.scenarios import forget_profile, save_profile  # noqa: E402
from tests.support.ci import in_ci  # noqa: E402

_modules = count(1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "samba: needs a real Samba AD DC (root, network namespaces)")


def require(problem: str | None) -> None:
    """Skip on ``problem`` (a reason), or fail under CI."""
    if problem is None:
        return
    if in_ci():
        pytest.fail(f"Samba DC tests cannot run in CI: {problem}", pytrace=False)
    pytest.skip(f"Samba DC unavailable: {problem}")


@pytest.fixture(scope="session")
def samba_workdir() -> Iterator[Path]:
    """A short temporary directory (Samba's unix socket paths live below it); removed at the end
    unless LMDOCTOR_KEEP_SAMBA is set."""
    require(environment_problem())
    path = Path(tempfile.mkdtemp(prefix="lmdsmb-"))
    yield path
    if not os.environ.get("LMDOCTOR_KEEP_SAMBA"):
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def samba_template(samba_workdir: Path) -> Template:
    """CONTOSO.LOCAL provisioned once per run."""
    return provision_template(samba_workdir)


@pytest.fixture(scope="module")
def samba_dc(samba_template: Template, samba_workdir: Path, request: pytest.FixtureRequest) -> Iterator[SambaDC]:
    """A fresh, running copy of the template for this module; stopped and its netns deleted afterwards."""
    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")[:20]
    started = time.monotonic()
    dc = SambaDC.start(samba_template, samba_workdir, f"{next(_modules)}-{module}")
    log(f"module {module}: DC ready {time.monotonic() - started:.2f} s after request")
    with dc:
        yield dc


@pytest.fixture
def fresh_dc(samba_template: Template, samba_workdir: Path, request: pytest.FixtureRequest) -> Iterator[SambaDC]:
    """A DC of the test's own, for tests that build a scenario (they reuse the same object names)."""
    with SambaDC.start(samba_template, samba_workdir, f"t{next(_modules)}-{request.node.name[:16]}") as dc:
        yield dc


@pytest.fixture
def samba_profile(fresh_dc: SambaDC) -> Iterator[Profile]:
    """A saved profile 'samba' for ``fresh_dc`` with its bind password in the OS keyring; forgotten after."""
    profile = save_profile(fresh_dc)
    yield profile
    forget_profile(profile)


@pytest.fixture
def samba_dc_up(samba_dc: SambaDC) -> SambaDC:
    """The module's DC, started again if an earlier test left it stopped."""
    if not samba_dc.running:
        samba_dc.restart()
    return samba_dc


@pytest.fixture
def in_samba_netns(samba_dc_up: SambaDC) -> Iterator[SambaDC]:
    """Run the test's thread inside the DC's network namespace (other threads stay outside)."""
    with samba_dc_up.inside():
        yield samba_dc_up


@pytest.fixture(scope="session")
def gssapi_module() -> object:
    """python-gssapi (for SASL GSSAPI binds), skipped — or failed under CI — when missing."""
    try:
        import gssapi
    except ImportError as exc:
        require(f"python-gssapi missing ({exc}); run .ci/install-samba.sh --python .venv")
    return gssapi
