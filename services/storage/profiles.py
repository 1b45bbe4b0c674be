"""Connection profiles: TOML files validated by pydantic. They never hold a secret."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from lmdoctor.services.domain.errors import LmdoctorError, validation_problems
from lmdoctor.services.domain.inputs import HOSTNAME
from lmdoctor.services.storage.files import atomic_write, read_small_file
from lmdoctor.services.storage.paths import config_dir

# Validation patterns are used with fullmatch only: `$` would also match before a final newline.
PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_PROFILE_BYTES = 64 * 1024  # a profile is a few lines; never read a device or a huge file whole
SECRET_KEYS = {"password", "passwd", "secret", "token", "adminpass"}


class ProfileError(LmdoctorError):
    """A profile is missing or invalid; the message names the field."""


def _hostname(value: str, field: str) -> str:
    if not HOSTNAME.fullmatch(value):
        raise ValueError(f"{field} {value[:80]!r} is not a valid host name")
    return value


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    domain: str
    dc: str = Field(description="Domain controller host name")
    ldap: Literal["ldaps", "starttls"] = "ldaps"
    ldap_port: int | None = Field(default=None, ge=1, le=65535)
    ca_file: Path | None = None  # None: the system trust store
    bind_user: str = Field(description="UPN used for simple binds, e.g. admin@contoso.local")
    directory_auth: Literal["password", "kerberos"] = "password"
    cluster: str
    nodes: tuple[str, ...] = ()
    winrm_transport: Literal["https", "http"] = "https"
    winrm_port: int | None = Field(default=None, ge=1, le=65535)
    winrm_auth: Literal["negotiate", "kerberos", "basic", "credssp"] = "negotiate"
    winrm_user: str | None = None
    winrm_ca_file: Path | None = None
    read_only: bool = False
    timeout_s: float = Field(default=15.0, gt=0, le=300)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not PROFILE_NAME.fullmatch(v):
            raise ValueError("name may hold letters, digits, '.', '_' and '-' (at most 64)")
        return v

    @field_validator("domain", "dc")
    @classmethod
    def _host(cls, v: str, info: ValidationInfo) -> str:
        return _hostname(v, info.field_name or "host name")

    @field_validator("cluster")
    @classmethod
    def _cluster(cls, v: str) -> str:
        return _hostname(v, "cluster").upper()

    @field_validator("nodes")
    @classmethod
    def _nodes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_hostname(n, "nodes").upper() for n in v)

    @field_validator("bind_user", "winrm_user")
    @classmethod
    def _user(cls, v: str | None) -> str | None:
        if v is not None and (not v or len(v) > 256 or any(c in v for c in "()*\\\x00\r\n")):
            raise ValueError("user must be a UPN or DOMAIN\\user-free name without ()*\\ or control characters")
        return v

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, data: Any) -> Any:  # a before-validator sees the raw input, of any type
        if isinstance(data, dict):
            found = sorted(k for k in data if str(k).lower() in SECRET_KEYS)
            if found:
                raise ValueError(f"profiles never hold secrets; remove {', '.join(found)} (lmdoctor keeps passwords in the OS keyring)")
        return data

    @property
    def winrm_username(self) -> str:
        return self.winrm_user or self.bind_user


def profile_path(name: str, root: Path | None = None) -> Path:
    if not PROFILE_NAME.fullmatch(name):
        raise ProfileError(f"invalid profile name {name[:80]!r}")
    return (root or config_dir() / "profiles") / f"{name}.toml"


def parse(text: str, name: str) -> Profile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile {name}: not valid TOML ({exc})") from None
    except RecursionError:
        raise ProfileError(f"profile {name}: not valid TOML (nested too deeply)") from None
    data.setdefault("name", name)
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(f"profile {name}: {'; '.join(validation_problems(exc, 'profile'))}") from None


def load(name: str, root: Path | None = None) -> Profile:
    path = profile_path(name, root)
    if not path.exists():
        raise ProfileError(f"no profile named {name!r} ({path})")
    try:
        text = read_small_file(path, MAX_PROFILE_BYTES).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(f"profile {name}: not UTF-8 text (byte {exc.start}); a profile is a TOML file") from None
    except OSError as exc:  # a FIFO, a device, too large, unreadable
        raise ProfileError(f"profile {name}: {exc}") from None
    return parse(text, name)


def save(profile: Profile, root: Path | None = None) -> Path:
    path = profile_path(profile.name, root)
    data = profile.model_dump(mode="json", exclude_none=True)
    atomic_write(path, tomli_w.dumps(data))
    return path


def list_names(root: Path | None = None) -> list[str]:
    folder = root or config_dir() / "profiles"
    return sorted(p.stem for p in folder.glob("*.toml")) if folder.exists() else []
