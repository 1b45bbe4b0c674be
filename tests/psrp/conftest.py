"""Fixtures of the PSRP suites."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lmdoctor.services.operations import lab_admin as manage
from tests.psrp.endpoint.lab_cluster import LabCluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LabCluster]:
    """One endpoint per host of a seed lab (HV01 lacks delegation to HV02)."""
    lab_dir = tmp_path / "lab"
    manage.reset(lab_dir, "seed")
    with LabCluster(lab_dir) as c:
        yield c
