"""Create, reset and open the lab in a lab directory."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from services.lab.directory import LabDirectory
from services.lab.hosts import DelegationAuthority, LabHostGateway
from services.lab.scenarios import build
from services.lab.state import LabStore
from services.journal import Journal

JOURNAL_FILE = "journal.jsonl"
MOVES_FILE = "journal.moves.jsonl"  # the test-move log kept beside the journal (services.moves)
WALKTHROUGH_FILE = "walkthrough.json"


def reset(lab_dir: Path, scenario: str = "seed", now: datetime | None = None) -> LabStore:
    """Write a fresh scenario into lab_dir and clear what the old one left: journal, move log, walkthrough."""
    lab = build(scenario, now)
    store = LabStore(lab_dir)
    store.save_entries(lab.entries)
    store.save_hosts(lab.hosts)
    store.save_scenario(scenario)
    for name in (JOURNAL_FILE, MOVES_FILE, WALKTHROUGH_FILE):
        (Path(lab_dir) / name).unlink(missing_ok=True)
    return store


def ensure(lab_dir: Path, scenario: str = "seed") -> LabStore:
    store = LabStore(lab_dir)
    return store if store.exists() else reset(lab_dir, scenario)


def open_lab(lab_dir: Path, step_delay: float = 0.15,
             authority: DelegationAuthority | None = None) -> tuple[LabDirectory, LabHostGateway, Journal]:
    store = ensure(lab_dir)
    directory = LabDirectory(store)
    return directory, LabHostGateway(store, directory, authority, step_delay), Journal(Path(lab_dir) / JOURNAL_FILE)
