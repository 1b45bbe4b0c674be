"""The lab's persistent state: a directory image and the simulated hosts, saved in a lab dir."""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from lmdoctor.services.domain.errors import LmdoctorError, validation_problems
from lmdoctor.services.domain.models import HostEvent, VirtualMachine, VMHostSettings
from lmdoctor.services.storage.files import atomic_write
from lmdoctor.services.storage.locks import file_lock

DIRECTORY_FILE = "directory.json"
HOSTS_FILE = "hosts.json"
SCENARIO_FILE = "scenario.txt"
LOCK_FILE = "lab.lock"  # held while a lab file is read, changed and saved

T = TypeVar("T")


class LabError(LmdoctorError):
    """The lab directory is incomplete or one of its files is damaged; names the file and the way out."""


def way_out(root: Path) -> str:
    return f"restore it, or start the lab again with `lmdoctor lab reset --lab-dir {root}` (this deletes its journal)"


class TicketView(BaseModel):
    """What the host's cached Kerberos tickets reflect: the source account when they were issued."""

    model_config = ConfigDict(extra="forbid")
    issued: datetime
    allowed_to_delegate_to: list[str]
    uac: int


class LabHost(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    cluster_state: str = "Up"
    reachable: bool = True
    settings: VMHostSettings
    vms: list[VirtualMachine] = []
    events: list[HostEvent] = []
    addresses: list[str]
    tickets: TicketView
    clock_offset_s: float = 0.0  # the host's clock minus the real one (the lab DC keeps the real time)
    memory_free: int | None = None
    processor: str | None = None
    supported_versions: list[str] = []
    switches: list[str] = ["LAN"]  # the host's virtual switches (Get-VMSwitch)
    vm_switches: dict[str, list[str]] = {}  # VM name -> the switches its network adapters use (default: LAN)


class LabHosts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cluster: str
    domain: str
    hosts: dict[str, LabHost]
    operator: str | None = None  # the account moves are started as (the lab's WinRM user); None: Administrator


Entries = dict[str, dict[str, list[str | bytes]]]


class Binary(BaseModel):
    model_config = ConfigDict(extra="forbid")
    b64: str


SAVED_ENTRIES = TypeAdapter(dict[str, dict[str, list[str | Binary]]])  # directory.json as saved by _encode


def _encode(entries: Entries) -> dict:
    return {
        dn: {a: [{"b64": base64.b64encode(v).decode()} if isinstance(v, bytes) else v for v in vals]
             for a, vals in attrs.items()}
        for dn, attrs in entries.items()
    }


def _decode(data: dict[str, dict[str, list[str | Binary]]]) -> Entries:
    return {
        dn: {a: [base64.b64decode(v.b64, validate=True) if isinstance(v, Binary) else v for v in vals]
             for a, vals in attrs.items()}
        for dn, attrs in data.items()
    }


SAVED_HOSTS = TypeAdapter(LabHosts)


class LabStore:
    """Reads and writes one lab directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def exists(self) -> bool:
        return (self.root / DIRECTORY_FILE).exists() and (self.root / HOSTS_FILE).exists()

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Be the only process reading-modifying-writing this lab's files (reload them inside)."""
        with file_lock(self.root / LOCK_FILE):
            yield

    def damaged(self, name: str, why: str) -> LabError:
        return LabError(f"{self.root / name} is damaged ({why}): {way_out(self.root)}")

    def _load(self, name: str, adapter: TypeAdapter[T]) -> T:
        """A lab file validated strictly; LabError (file and way out) if missing or damaged."""
        path = self.root / name
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise LabError(f"{path} is missing: the lab is incomplete; {way_out(self.root)}") from None
        try:
            return adapter.validate_json(raw, strict=True)
        except ValidationError as exc:
            raise self.damaged(name, validation_problems(exc)[0]) from None

    def entries_version(self) -> tuple[int, int, int] | None:
        """Changes whenever directory.json is saved (a save replaces the file)."""
        try:
            st = os.stat(self.root / DIRECTORY_FILE)
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def load_entries(self) -> Entries:
        try:
            return _decode(self._load(DIRECTORY_FILE, SAVED_ENTRIES))
        except binascii.Error as exc:
            raise self.damaged(DIRECTORY_FILE, f"a binary value is not base64: {exc}") from None

    def save_entries(self, entries: Entries) -> None:
        atomic_write(self.root / DIRECTORY_FILE, json.dumps(_encode(entries), indent=1, sort_keys=True))

    def load_hosts(self) -> LabHosts:
        return self._load(HOSTS_FILE, SAVED_HOSTS)

    def save_hosts(self, hosts: LabHosts) -> None:
        atomic_write(self.root / HOSTS_FILE, hosts.model_dump_json(indent=1))

    def scenario(self) -> str:
        path = self.root / SCENARIO_FILE
        if not path.exists():
            return "unknown"
        try:
            return path.read_text(encoding="utf-8").strip()
        except UnicodeDecodeError:
            raise self.damaged(SCENARIO_FILE, "not UTF-8 text") from None

    def save_scenario(self, name: str) -> None:
        atomic_write(self.root / SCENARIO_FILE, name + "\n")
