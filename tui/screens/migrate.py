"""The test Move-VM: pre-flight (-WhatIf), live move with the host's progress, verify with Get-VM."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Label, ProgressBar, Select

from lmdoctor.services.domain.models import MoveProgress, MoveResult
from lmdoctor.services.operations import readonly
from lmdoctor.services.operations.migration import MoveRequest, preview, run_test_move
from lmdoctor.services.storage import move_log as moves
from lmdoctor.services.storage.error_log import describe
from lmdoctor.tui.keymap import key_hint
from lmdoctor.tui.messages import ClusterChanged
from lmdoctor.tui.screens.base import BaseScreen
from lmdoctor.tui.screens.confirm import ReasonDialog
from lmdoctor.tui.text import assemble, cell, join_lines
from lmdoctor.tui.widgets.plain import Plain, PlainLog
from lmdoctor.tui.widgets.vm_select import show_vms


def chosen(select: Select) -> str | None:
    """The value chosen in a Select of names, or None while it is blank."""
    value = select.value
    return value if isinstance(value, str) else None


class MigrateScreen(BaseScreen):
    HELP = ("Runs a test live migration the way a jump host does: Move-VM started remotely on the source. "
            "w runs the pre-flight only (-WhatIf); g shows what the live move does, asks for a reason and a "
            "confirmation, then runs pre-flight, the live move with the host's progress, and Get-VM on the "
            "destination; the reason is logged with the move. A failure shows the host's own error and its likely "
            "cause.")
    BINDINGS = [
        Binding("w", "preflight", "Pre-flight", id="migrate.preflight"),
        Binding("g", "move", "Move", id="migrate.move"),
        Binding("f", "app.open_findings", "Findings", id="migrate.findings"),
    ]

    def __init__(self, vm: str | None = None, destination: str | None = None) -> None:
        super().__init__()
        self.initial_vm = vm
        self.initial_destination = destination
        self.running = False

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        with Vertical(id="migrate"):
            with Horizontal(classes="form-row"):
                yield Label("VM", classes="field-label")
                yield Select([], id="vm", prompt="choose a VM", allow_blank=True)
                yield Label("to", classes="field-label")
                yield Select([], id="destination", prompt="destination node", allow_blank=True)
            with Horizontal(classes="buttons"):
                yield Button(f"Pre-flight -WhatIf ({key_hint(self, 'migrate.preflight')})", id="preflight")
                yield Button(f"Move and verify ({key_hint(self, 'migrate.move')})", id="move", variant="primary",
                             disabled=self.app.session.read_only)
            yield ProgressBar(total=100, show_eta=False, id="move-progress")
            yield Plain("", id="move-activity")
            yield Plain("", id="move-result", classes="detail")
            yield PlainLog(id="move-log")
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        self.follow_inventory(self.fill_choices)

    def vm_hosts(self) -> dict[str, str]:
        return self.app.snapshot.vm_hosts() if self.app.snapshot else {}

    def fill_choices(self) -> None:
        self.set_status(self.as_of_text())
        snapshot = self.app.snapshot
        if snapshot is None or self.running:
            return
        vm_select = self.query_one("#vm", Select)
        dest_select = self.query_one("#destination", Select)
        chosen_vm = chosen(vm_select) or self.initial_vm
        chosen_dest = chosen(dest_select) or self.initial_destination
        show_vms(vm_select, self.vm_hosts(), chosen_vm)
        self._fill_destinations(chosen_dest)

    def _fill_destinations(self, preferred: str | None = None) -> None:
        snapshot = self.app.snapshot
        vm = chosen(self.query_one("#vm", Select))
        source = self.vm_hosts().get(vm) if vm else None
        names = [n.name for n in snapshot.nodes if n.name != source] if snapshot else []
        dest_select = self.query_one("#destination", Select)
        dest_select.set_options([(cell(n), n) for n in names])
        if preferred in names:
            dest_select.value = preferred
        elif names:
            dest_select.value = names[0]

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "vm":
            self._fill_destinations(chosen(self.query_one("#destination", Select)))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_preflight() if event.button.id == "preflight" else self.action_move()

    def action_preflight(self) -> None:
        if (request := self._request(what_if_only=True)) is not None:
            self._start(request, None)

    def action_move(self) -> None:
        if self.app.session.read_only:
            refusal = str(readonly.refusal(readonly.LIVE_MOVE))
            self.query_one("#move-result", Plain).update(assemble((refusal, "b red")))
            self.notify(refusal, severity="warning")
            return
        if (request := self._request(what_if_only=False)) is None:
            return

        def confirmed(reason: str | None) -> None:
            if reason is not None:
                self._start(request, reason)

        body = "\n".join(preview(request))
        self.app.push_screen(ReasonDialog(f"Live test move of {request.vm}", body, "Move the VM"), confirmed)

    def _request(self, what_if_only: bool) -> MoveRequest | None:
        """The move the choices describe; None (said) while a move runs or before a VM and destination are chosen."""
        if self.running:
            self.notify("A move is already running.")
            return None
        vm = chosen(self.query_one("#vm", Select))
        destination = chosen(self.query_one("#destination", Select))
        if vm is None or destination is None:
            self.notify("Choose a VM and a destination first.", severity="warning")
            return None
        return MoveRequest(vm=vm, destination=destination, source=self.vm_hosts().get(vm), what_if_only=what_if_only)

    def _start(self, request: MoveRequest, reason: str | None) -> None:
        if self.running:  # a move started while the dialog was open
            self.notify("A move is already running.")
            return
        self.running = True
        for button in self.query(Button):
            button.disabled = True
        self.query_one("#move-progress", ProgressBar).update(progress=0)
        self.query_one("#move-result", Plain).update("")
        log = self.query_one("#move-log", PlainLog)
        log.clear()
        candidates = [n.name for n in self.app.snapshot.nodes] if self.app.snapshot else []
        self.run_move(request, reason, candidates, log)

    @work(thread=True, group="move")  # one at a time (self.running); a move is never replaced by another
    def run_move(self, request: MoveRequest, reason: str | None, candidates: list[str], log: PlainLog) -> None:
        """Pre-flight, move and verify, logged with the operator's reason (None for a pre-flight); the steps go to
        `log` and the result to `_done` (on the event loop)."""
        def step(message: str) -> None:
            self.app.call_from_thread(log.write_line, message)

        def progress(p: MoveProgress) -> None:
            self.app.call_from_thread(self._progress, p)

        try:
            result = run_test_move(self.app.session.hosts, request, candidates, progress=progress, step=step)
            moves.record(self.app.session.journal, result, reason=reason)  # for the change-record report
        except Exception as exc:  # shown on screen; the console stays up
            step(f"FAILED: {describe(exc)}")
            result = None
        self.app.call_from_thread(self._done, result)

    def _progress(self, p: MoveProgress) -> None:
        self.query_one("#move-progress", ProgressBar).update(progress=p.percent)
        self.query_one("#move-activity", Plain).update(f"{p.activity}: {p.status}")

    def _done(self, result: MoveResult | None) -> None:
        self.running = False
        for button in self.query(Button):
            button.disabled = button.id == "move" and self.app.session.read_only
        box = self.query_one("#move-result", Plain)
        if result is None:
            box.update(assemble(("The test move could not be attempted.", "b red")))
        elif result.ok:
            self.query_one("#move-progress", ProgressBar).update(progress=100)
            verb = "can move" if result.what_if else "moved"
            tail = "" if result.what_if else f" and is verified there with Get-VM ({result.duration_s:.1f} s)"
            box.update(assemble((f"✔ {result.vm} {verb} {result.source} → {result.destination}{tail}", "b green")))
            if not result.what_if:
                self.app.post_message(ClusterChanged())
        else:
            from lmdoctor.services.domain import events

            cause = events.describe(result.cause) if result.cause else "unknown"
            box.update(join_lines([("✖ Move failed", "b red"), result.error or "",
                                   assemble(("Likely cause:", "b"), f" {cause}"), ("f: findings and fixes", "dim")]))
