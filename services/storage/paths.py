"""Platform directories (overridable by environment for tests and portable installs)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def config_dir() -> Path:
    return Path(os.environ.get("LMDOCTOR_CONFIG_DIR") or platformdirs.user_config_dir("lmdoctor"))


def data_dir() -> Path:
    return Path(os.environ.get("LMDOCTOR_DATA_DIR") or platformdirs.user_data_dir("lmdoctor"))


def default_lab_dir() -> Path:
    return data_dir() / "lab"
