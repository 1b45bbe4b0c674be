"""The console's own settings: `console.toml` in the config dir (theme, keymap), validated by pydantic.

It never holds a secret; it is not a profile (profiles live in `profiles/`)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lmdoctor.services.domain.errors import LmdoctorError, validation_problems
from lmdoctor.services.storage.files import atomic_write, read_small_file
from lmdoctor.services.storage.paths import config_dir

MAX_CONFIG_BYTES = 64 * 1024
KEY = re.compile(r"[A-Za-z0-9_+?/:.,;=\-]{1,40}")  # always fullmatch


class ConfigError(LmdoctorError):
    """The console config is unreadable or invalid; the message names the file and the field."""


class ConsoleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    theme: str | None = Field(default=None, max_length=64)
    keymap: dict[str, str] = Field(default_factory=dict, description="binding id → comma-separated keys")

    @field_validator("keymap")
    @classmethod
    def _keys(cls, v: dict[str, str]) -> dict[str, str]:
        for binding_id, keys in v.items():
            parts = [k.strip() for k in keys.split(",")]
            if not all(KEY.fullmatch(k) for k in parts):
                raise ValueError(f"{binding_id}: {keys[:60]!r} is not a comma-separated list of key names")
        return v


def config_path() -> Path:
    return config_dir() / "console.toml"


def load(path: Path | None = None) -> ConsoleConfig:
    """The console config; defaults when the file does not exist."""
    path = path or config_path()
    if not path.exists():
        return ConsoleConfig()
    try:
        raw = read_small_file(path, MAX_CONFIG_BYTES)
    except OSError as exc:  # a FIFO, a device, too large, unreadable
        raise ConfigError(str(exc)) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    try:
        return ConsoleConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {'; '.join(validation_problems(exc, 'config'))}") from None


def save_theme(theme: str, path: Path | None = None) -> Path:
    """Persist the theme, keeping the rest of the file's settings (an invalid file is not overwritten)."""
    path = path or config_path()
    current = load(path)
    data = current.model_copy(update={"theme": theme}).model_dump(exclude_none=True, exclude_defaults=False)
    if not data.get("keymap"):
        data.pop("keymap", None)
    atomic_write(path, tomli_w.dumps(data))
    return path
