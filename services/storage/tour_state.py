"""The migration tour's saved progress: one JSON file beside the change journal, replaced atomically after every hop,
so an interrupted tour (Ctrl-C, a failure, a crash) can be resumed from where the VM is."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from lmdoctor.services.domain.errors import LmdoctorError, validation_problems
from lmdoctor.services.domain.tour import TourState
from lmdoctor.services.storage.files import atomic_write, read_small_file
from lmdoctor.services.storage.journal import Journal

MAX_STATE_BYTES = 1 << 20  # an every-pair tour of 64 nodes stays far below


class TourStateError(LmdoctorError):
    """The saved tour file is damaged or not a regular file; names it and the way out."""


def state_path(journal: Journal) -> Path:
    return journal.path.with_name(journal.path.stem + ".tour.json")


def save(journal: Journal, state: TourState) -> None:
    atomic_write(state_path(journal), state.model_dump_json(indent=2) + "\n")


def load(journal: Journal) -> TourState | None:
    """The saved tour, or None when there is none."""
    path = state_path(journal)
    if not path.exists():
        return None
    try:
        return TourState.model_validate_json(read_small_file(path, MAX_STATE_BYTES), strict=False)
    except ValidationError as exc:
        raise TourStateError(f"{path}: not a saved tour ({validation_problems(exc)[0]}); move the file aside to start "
                             "a new tour (each hop is also in the move log)") from None
    except OSError as exc:  # a FIFO, a device, too large, unreadable
        raise TourStateError(str(exc)) from None


def unfinished(journal: Journal) -> TourState | None:
    """The saved tour when it can be resumed (stopped, failed or interrupted), else None."""
    state = load(journal)
    return state if state is not None and state.unfinished else None
