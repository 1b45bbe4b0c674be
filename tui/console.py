"""The console's state as its screens see it: the session, the clock, and the inventory they watch.

Screens never import `lmdoctor.tui.app` (which imports every screen); they type `self.app` as `Console`,
watch `inventory` (`BaseScreen.follow_inventory`) and `progress`, and ask for things by posting the
messages in `lmdoctor.tui.messages` or by running `app.` actions from their bindings."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from textual import work
from textual.app import App
from textual.content import Content
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.reactive import reactive

from lmdoctor.services.domain.diagnosis import diagnose
from lmdoctor.services.domain.models import Finding, Snapshot
from lmdoctor.services.domain.safetext import visible
from lmdoctor.services.operations.inventory import take_snapshot
from lmdoctor.services.operations.session import Session
from lmdoctor.services.storage.error_log import describe
from lmdoctor.tui import heap

SETTLE_AFTER_S = 1.0  # after an inventory is shown: its first paint and the keys right after it come first

Clock = Callable[[], datetime]


@dataclass(frozen=True, eq=False)
class Inventory:
    """What the console knows of the cluster: the last snapshot and its findings, when it was read, or why the
    last read failed. A new object for every read (so every read reaches the watchers)."""

    snapshot: Snapshot | None = None
    findings: list[Finding] = field(default_factory=list)
    as_of: datetime | None = None
    error: str | None = None


@dataclass
class ReadProgress(Message):
    """How far inventory read number `read` has got: posted from its worker, which does not wait for it."""

    read: int
    text: str


class Console(App[int]):
    """The app's session and inventory; `lmdoctor.tui.app.LmDoctorApp` adds the screens, keys and palette."""

    inventory: reactive[Inventory] = reactive(Inventory, always_update=True)
    progress: reactive[str] = reactive("")  # the inventory read under way ("Read host HV03… (3/4)"), or ""

    def __init__(self, session: Session, clock: Clock | None = None) -> None:
        super().__init__()
        self.session = session
        self.clock: Clock = clock or (lambda: datetime.now(timezone.utc))
        self.sub_title = session.label
        self._reads = itertools.count(1)  # each inventory read's number
        self._read_ended = 0  # the number of the last read shown or failed: its late progress is not shown

    @property
    def snapshot(self) -> Snapshot | None:
        return self.inventory.snapshot

    @property
    def findings(self) -> list[Finding]:
        return self.inventory.findings

    # --- text sinks: values from outside lmdoctor are shown, never parsed as markup or sent as controls ------
    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Every notification is text: its message often carries a value (a remedy, an error, a host's answer)."""
        super().notify(visible(message, multiline=True), title=visible(title), severity=severity,
                       timeout=timeout, markup=False)

    def format_title(self, title: str, sub_title: str) -> Content:
        return super().format_title(visible(title), visible(sub_title))

    def switch_session(self, session: Session) -> None:
        """Use `session` from now on (a profile was opened): close the old one, go home and read the new cluster."""
        old, self.session = self.session, session
        self.sub_title = session.label
        old.close()
        while len(self.screen_stack) > 1:  # the default screen (home) stays
            self.pop_screen()
        self.inventory = Inventory()
        self.refresh_inventory()

    @work(thread=True, exclusive=True, group="inventory")  # a newer read replaces one under way
    def refresh_inventory(self) -> None:
        read = next(self._reads)

        def progress(message: str, done: int, total: int) -> None:
            # posted, not called from the thread: a call would wait for the event loop (at start, busy with the
            # console's first paint) at each of 64 hosts answering at once, and the read with it
            self.post_message(ReadProgress(read, f"{message}… ({done}/{total})"))

        session = self.session
        try:
            snapshot = take_snapshot(session.directory, session.hosts, session.cluster,
                                     session.configured_nodes, progress=progress, operator=session.operator)
            findings = diagnose(snapshot)
        except Exception as exc:  # shown to the user; the console stays up
            if session is self.session:
                self.call_from_thread(self._inventory_failed, describe(exc), read)
            return
        if session is self.session:  # not a cluster the user has switched away from
            self.call_from_thread(self.show_inventory, snapshot, findings, read)

    def on_read_progress(self, message: ReadProgress) -> None:
        if message.read > self._read_ended:
            self.progress = message.text

    def _ends(self, read: int) -> bool:
        """Whether read number `read` (0: not from a read, a test's) is still the one to show: an older read
        than one already shown or failed was replaced while under way, and its outcome is dropped."""
        if read and read < self._read_ended:
            return False
        self._read_ended = max(self._read_ended, read)
        return True

    def show_inventory(self, snapshot: Snapshot, findings: list[Finding], read: int = 0) -> None:
        """A read inventory on screen (the worker hands it over here, with the read's number), then a quiet
        moment for the heap."""
        if not self._ends(read):
            return
        self.progress = ""
        self.inventory = Inventory(snapshot, findings, self.clock())
        # the old inventory and the read's garbage go, the rest is frozen: a second later, not while it is painted
        self.set_timer(SETTLE_AFTER_S, heap.settle)

    def _inventory_failed(self, error: str, read: int = 0) -> None:
        if not self._ends(read):
            return
        self.progress = ""
        self.notify(error, title="Inventory failed", severity="error", timeout=10)
        self.inventory = replace(self.inventory, error=error)  # the last snapshot stays on screen

    def on_unmount(self) -> None:
        self.session.close()
        heap.release()
