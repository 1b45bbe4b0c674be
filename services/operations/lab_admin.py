"""Create, reset and open the lab in a lab directory."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from lmdoctor.services.backends.lab.directory import LabDirectory
from lmdoctor.services.backends.lab.hosts import DelegationAuthority, LabHostGateway
from lmdoctor.services.backends.lab.scenarios import build
from lmdoctor.services.backends.lab.state import (
    DIRECTORY_FILE,
    HOSTS_FILE,
    SCENARIO_FILE,
    LabError,
    LabStore,
    way_out,
)
from lmdoctor.services.domain.errors import LmdoctorError
from lmdoctor.services.storage.journal import Journal

JOURNAL_FILE = "journal.jsonl"
MOVES_FILE = "journal.moves.jsonl"  # the test-move log kept beside the journal (lmdoctor.services.storage.move_log)
WALKTHROUGH_FILE = "walkthrough.json"
LAB_FILES = {DIRECTORY_FILE, HOSTS_FILE, SCENARIO_FILE}  # any of them marks a lab (a damaged one may be reset)


class NotALab(LmdoctorError, OSError):
    """The lab directory holds other things and no lab: lmdoctor writes no lab file into it."""


def check_lab_dir(lab_dir: Path) -> None:
    """Refuse a directory that is neither new, nor empty, nor a lab (`/`, a home directory, a project)."""
    root = Path(lab_dir)
    if not root.exists():
        return
    if not root.is_dir():
        raise NotALab(f"{root} is not a directory, so not a lab directory")
    names = {p.name for p in root.iterdir()}
    if names & LAB_FILES or all(name.endswith(".lock") for name in names):
        return
    raise NotALab(f"{root} is not empty and not a lab: lmdoctor writes no lab files there; choose a new or empty "
                  "directory for --lab-dir")


def _write_scenario(store: LabStore, scenario: str, now: datetime | None) -> None:
    lab = build(scenario, now)
    store.save_entries(lab.entries)
    store.save_hosts(lab.hosts)
    store.save_scenario(scenario)


def reset(lab_dir: Path, scenario: str = "seed", now: datetime | None = None) -> LabStore:
    """Write a fresh scenario into lab_dir and clear what the old one left: journal, move log, walkthrough.

    The only way lmdoctor deletes a journal: asked for explicitly (`lmdoctor lab reset`)."""
    check_lab_dir(lab_dir)
    store = LabStore(lab_dir)
    with store.locked():
        _write_scenario(store, scenario, now)
        for name in (JOURNAL_FILE, MOVES_FILE, WALKTHROUGH_FILE):
            (Path(lab_dir) / name).unlink(missing_ok=True)
    return store


def _fresh(root: Path) -> bool:
    """Nothing of a lab here yet: no directory, or one holding at most lmdoctor's lock files."""
    return not root.exists() or all(p.suffix == ".lock" for p in root.iterdir())


def ensure(lab_dir: Path, scenario: str = "seed") -> LabStore:
    """The lab in lab_dir, created only where there is none yet; an incomplete lab is a LabError.

    Never resets over what is there: that would delete the journal and the move log."""
    check_lab_dir(lab_dir)
    root = Path(lab_dir)
    store = LabStore(root)
    if store.exists():
        return store
    if _fresh(root):
        with store.locked():  # two processes starting on a new lab create it once
            if _fresh(root):
                _write_scenario(store, scenario, None)
        if store.exists():
            return store
    missing = next(name for name in (DIRECTORY_FILE, HOSTS_FILE) if not (root / name).exists())
    raise LabError(f"{root / missing} is missing: {root} is not a complete lab; {way_out(root)}")


def open_lab(lab_dir: Path, step_delay: float = 0.15,
             authority: DelegationAuthority | None = None) -> tuple[LabDirectory, LabHostGateway, Journal]:
    store = ensure(lab_dir)
    store.load_hosts()  # a damaged hosts.json stops every command here, not halfway through one
    directory = LabDirectory(store)
    return directory, LabHostGateway(store, directory, authority, step_delay), Journal(Path(lab_dir) / JOURNAL_FILE)
