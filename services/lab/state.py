"""The lab's persistent state: a directory image and the simulated hosts, saved in a lab dir."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from services.files import atomic_write
from services.models import HostEvent, VirtualMachine, VMHostSettings

DIRECTORY_FILE = "directory.json"
HOSTS_FILE = "hosts.json"
SCENARIO_FILE = "scenario.txt"


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


class LabHosts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cluster: str
    domain: str
    hosts: dict[str, LabHost]
    operator: str | None = None  # the account moves are started as (the lab's WinRM user); None: Administrator


Entries = dict[str, dict[str, list[str | bytes]]]


def _encode(entries: Entries) -> dict:
    return {
        dn: {a: [{"b64": base64.b64encode(v).decode()} if isinstance(v, bytes) else v for v in vals]
             for a, vals in attrs.items()}
        for dn, attrs in entries.items()
    }


def _decode(data: dict) -> Entries:
    return {
        dn: {a: [base64.b64decode(v["b64"]) if isinstance(v, dict) else v for v in vals] for a, vals in attrs.items()}
        for dn, attrs in data.items()
    }


class LabStore:
    """Reads and writes one lab directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def exists(self) -> bool:
        return (self.root / DIRECTORY_FILE).exists() and (self.root / HOSTS_FILE).exists()

    def load_entries(self) -> Entries:
        return _decode(json.loads((self.root / DIRECTORY_FILE).read_text(encoding="utf-8")))

    def save_entries(self, entries: Entries) -> None:
        atomic_write(self.root / DIRECTORY_FILE, json.dumps(_encode(entries), indent=1, sort_keys=True))

    def load_hosts(self) -> LabHosts:
        return LabHosts.model_validate_json((self.root / HOSTS_FILE).read_text(encoding="utf-8"))

    def save_hosts(self, hosts: LabHosts) -> None:
        atomic_write(self.root / HOSTS_FILE, hosts.model_dump_json(indent=1))

    def scenario(self) -> str:
        path = self.root / SCENARIO_FILE
        return path.read_text(encoding="utf-8").strip() if path.exists() else "unknown"

    def save_scenario(self, name: str) -> None:
        atomic_write(self.root / SCENARIO_FILE, name + "\n")
