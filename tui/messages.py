"""What a screen asks of the console: each request is a message the app handles (`LmDoctorApp.on_*`).

Requests without a value (findings, journal, matrix, ...) are `app.` actions in the screens' bindings
instead; these carry what the screen has selected."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from lmdoctor.services.domain.models import Finding
from lmdoctor.services.operations.session import Session


@dataclass
class OpenNode(Message):
    """Show one node in depth."""

    name: str


@dataclass
class OpenDrain(Message):
    """Show whether a node can be drained now."""

    node: str


@dataclass
class OpenFindings(Message):
    """Show the findings of the cluster or of one node, the cursor on `focus` (a finding id)."""

    node: str | None = None
    focus: str | None = None


@dataclass
class OpenMigrate(Message):
    """Open the test Move-VM with a VM and a destination chosen."""

    vm: str | None = None
    destination: str | None = None


@dataclass
class OpenFix(Message):
    """Preview the fixes of these findings in one change (the inventory is read again if anything was written)."""

    findings: list[Finding]


@dataclass
class ClusterChanged(Message):
    """Something was written to the directory or a host (or a VM moved): read the inventory again."""


@dataclass
class SessionOpened(Message):
    """A profile was opened: the console switches to its cluster."""

    session: Session
