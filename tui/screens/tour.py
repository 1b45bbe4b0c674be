"""The migration tour: one test VM through every node and back, hop by hop, with live progress; stop and resume."""

from __future__ import annotations

import threading

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Label, Select

from lmdoctor.services.domain import events
from lmdoctor.services.domain import tour as plan
from lmdoctor.services.domain.tour import TourState
from lmdoctor.services.operations import readonly, tour
from lmdoctor.services.storage import tour_state
from lmdoctor.services.storage.error_log import describe
from lmdoctor.tui.keymap import key_hint
from lmdoctor.tui.messages import ClusterChanged
from lmdoctor.tui.screens.base import BaseScreen
from lmdoctor.tui.screens.confirm import ReasonDialog
from lmdoctor.tui.text import assemble, cell, join_lines
from lmdoctor.tui.widgets.filter_table import FilterTable
from lmdoctor.tui.widgets.plain import Plain
from lmdoctor.tui.widgets.vm_select import show_vms

MODES = (("cycle: each node once", "cycle"), ("every ordered pair", "all"))
RESULT_STYLE = {"passed": "green", "not run": "dim"}


class TourScreen(BaseScreen):
    HELP = ("Moves one test VM through every node of the cluster and back to where it is now: a cycle (every node "
            "once as source and destination) or every ordered pair. Each hop is a test Move-VM — pre-flight, live "
            "move, Get-VM on the destination — with its duration, blackout and transferred bytes where the host "
            "reports them. p previews the hops, g asks for a reason and starts, s or Esc stops after the current "
            "hop, r resumes a stopped or failed tour from the VM's node (the failed hop first).")
    BINDINGS = [
        Binding("p", "preview", "Preview", id="tour.preview"),
        Binding("g", "start", "Start", id="tour.start"),
        Binding("s", "stop", "Stop", id="tour.stop"),
        Binding("r", "resume", "Resume", id="tour.resume"),
    ]

    def __init__(self, vm: str | None = None) -> None:
        super().__init__()
        self.initial_vm = vm
        self.state: TourState | None = None  # the tour shown: previewed, running, or saved
        self.stop_flag = threading.Event()
        self.running = False
        self.resumable = False  # the state shown is a saved, unfinished tour (not a preview)

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        with Vertical(id="tour"):
            with Horizontal(classes="form-row"):
                yield Label("VM", classes="field-label")
                yield Select([], id="vm", prompt="choose a VM", allow_blank=True)
                yield Label("hops", classes="field-label")
                yield Select(MODES, id="mode", value="cycle", allow_blank=False)
                yield Checkbox("keep going after a failed hop", id="keep-going")
            with Horizontal(classes="buttons"):
                yield Button(f"Preview hops ({key_hint(self, 'tour.preview')})", id="preview")
                yield Button(f"Start tour ({key_hint(self, 'tour.start')})", id="start", variant="primary", disabled=self.app.session.read_only)
                yield Button(f"Stop after this hop ({key_hint(self, 'tour.stop')})", id="stop", disabled=True)
                yield Button(f"Resume ({key_hint(self, 'tour.resume')})", id="resume", disabled=True)
            yield Plain("", id="tour-summary")
            yield FilterTable(plan.COLUMNS, id="tour-hops")
            yield Plain("", id="tour-result", classes="detail")
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        self.follow_inventory(self.fill_choices)

    def on_screen_resume(self) -> None:
        if not self.running:  # at every visit (the screen is kept): a tour may have been saved since, here or by the CLI
            self.offer_saved()

    def offer_saved(self) -> None:
        """An unfinished tour from the journal's directory, offered for resume (r)."""
        try:
            saved = tour_state.unfinished(self.app.session.journal)
        except Exception as exc:  # a damaged saved tour: say so, a new tour can still be previewed
            self.notify(describe(exc), title="Saved tour unreadable", severity="error")
            saved = None
        if saved is not None:
            self.state, self.resumable = saved, True
            self.show_state()
            self.query_one("#tour-summary", Plain).update(assemble(
                ("Unfinished tour", "b yellow"), f" {saved.id} of ", (saved.vm, "b"),
                f" ({saved.mode}, {len(saved.remaining)} of {len(saved.hops)} hop(s) left, reason: ",
                saved.reason, ") — ", ("r resumes it from the VM's node", "b")))
        self.sync_buttons()

    # --- choosing ------------------------------------------------------------------------------------------
    def vm_hosts(self) -> dict[str, str]:
        return self.app.snapshot.vm_hosts() if self.app.snapshot else {}

    def nodes(self) -> list[str]:
        return [n.name for n in self.app.snapshot.nodes] if self.app.snapshot else []

    def fill_choices(self) -> None:
        self.set_status(self.as_of_text())
        if self.app.snapshot is None or self.running:
            return
        select = self.query_one("#vm", Select)
        show_vms(select, self.vm_hosts(), select.value if select.value != Select.BLANK else self.initial_vm)

    def sync_buttons(self) -> None:
        self.query_one("#preview", Button).disabled = self.running
        self.query_one("#start", Button).disabled = self.running or self.app.session.read_only
        self.query_one("#stop", Button).disabled = not self.running
        self.query_one("#resume", Button).disabled = self.running or not self.resumable

    def on_button_pressed(self, event: Button.Pressed) -> None:
        {"preview": self.action_preview, "start": self.action_start, "stop": self.action_stop,
         "resume": self.action_resume}[str(event.button.id)]()

    # --- preview, confirm, run -----------------------------------------------------------------------------
    def preview_state(self) -> TourState | None:
        """The tour the choices describe, planned from where the inventory saw the VM; None (said) if there is none."""
        vm = self.query_one("#vm", Select).value
        here = self.vm_hosts().get(str(vm)) if vm != Select.BLANK else None
        if here is None:
            self.notify("Choose a VM first (the inventory lists the VMs of every node).", severity="warning")
            return None
        mode = str(self.query_one("#mode", Select).value)
        keep_going = self.query_one("#keep-going", Checkbox).value
        try:
            return tour.planned(str(vm), here, self.nodes(), "all" if mode == "all" else "cycle", keep_going, "")
        except Exception as exc:  # too few nodes: said, nothing runs
            self.notify(describe(exc), severity="error")
            return None

    def show_preview(self) -> TourState | None:
        """Plan the chosen tour and show its hops (nothing moves); None when there is nothing to plan."""
        state = self.preview_state()
        if state is not None:
            self.state, self.resumable = state, False
            self.show_state()
        return state

    def action_preview(self) -> None:
        if self.running or (state := self.show_preview()) is None:
            return
        self.query_one("#tour-summary", Plain).update(assemble(
            ("Preview:", "b"), " ", (state.vm, "b"), f" from {state.start}, {len(state.hops)} live move(s) (",
            "continue after a failure" if state.keep_going else "stop at the first failure",
            ") — ", ("g asks for a reason and starts", "b")))
        self.query_one("#tour-result", Plain).update("")
        self.sync_buttons()

    def action_start(self) -> None:
        if self.running:
            self.notify("The tour is running; s stops it after the current hop.")
            return
        if self.app.session.read_only:
            refusal = str(readonly.refusal(readonly.LIVE_MOVE))
            self.query_one("#tour-result", Plain).update(assemble((refusal, "b red")))
            self.notify(refusal, severity="warning")
            return
        if (state := self.show_preview()) is None:
            return
        hops = "\n".join(f"{i + 1:>3}. {h.source} → {h.destination}" for i, h in enumerate(state.hops))
        body = (f"Move {state.vm} {len(state.hops)} time(s), starting on {state.start} and ending there; each hop "
                f"is a pre-flight, a live Move-VM and Get-VM on the destination.\n\n{hops}")

        def confirmed(reason: str | None) -> None:
            if reason is not None and self.state is state:
                self.begin(state.model_copy(update={"reason": reason}))

        self.app.push_screen(ReasonDialog(f"Migration tour of {state.vm}", body, "Start the tour"), confirmed)

    def action_resume(self) -> None:
        if self.running or self.state is None or not self.resumable or self.app.session.read_only:
            return
        self.begin(self.state)

    def action_stop(self) -> None:
        if not self.running:
            return
        self.stop_flag.set()
        self.query_one("#tour-summary", Plain).update(assemble(("Stopping after the current hop…", "b yellow")))

    def action_back(self) -> None:
        if self.running:  # Esc stops the tour (after the current hop) instead of leaving it unwatched
            self.action_stop()
        else:
            super().action_back()

    def begin(self, state: TourState) -> None:
        self.state, self.resumable = state, False
        self.running = True
        self.stop_flag = threading.Event()
        self.show_state()
        self.query_one("#tour-result", Plain).update("")
        self.query_one("#tour-summary", Plain).update(assemble(("Running", "b"), f" tour {state.id} of ",
                                                               (state.vm, "b"), f" · reason: {state.reason}"))
        self.sync_buttons()
        self.run_tour(state, self.nodes(), self.stop_flag)

    @work(thread=True, group="tour")  # one at a time (self.running); moves are never replaced by another run
    def run_tour(self, state: TourState, nodes: list[str], stop: threading.Event) -> None:
        """The runner on a worker thread; every event is handed to the UI thread, which alone touches widgets."""
        def listen(event: tour.TourEvent) -> None:
            self.app.call_from_thread(self.on_tour_event, event)

        try:
            outcome = tour.run(self.app.session.hosts, self.app.session.journal, state, nodes, listener=listen,
                               stop=stop)
        except Exception as exc:  # shown on screen; the console stays up
            self.app.call_from_thread(self.finished, None, describe(exc))
            return
        self.app.call_from_thread(self.finished, outcome, None)

    # --- showing -------------------------------------------------------------------------------------------
    def on_tour_event(self, event: tour.TourEvent) -> None:
        if isinstance(event, tour.HopFinished):
            self.state = event.state
            self.show_state()
        elif isinstance(event, tour.HopStarted):
            self.show_state(running=(event.index, event.hop, f"running {event.hop.source} → {event.hop.destination}"))
        elif isinstance(event, tour.HopProgress):
            p = event.progress
            text = p.status if f"{p.percent}%" in p.status else f"{p.percent}% {p.status}".strip()
            stopping = " · stopping after this hop" if event.stopping else ""
            self.show_state(running=(event.index, event.hop, text + stopping))

    def show_state(self, running: tuple[int, plan.Hop, str] | None = None) -> None:
        """The hops table: every hop run, the hop running (with the host's progress), skipped and not-run hops."""
        if self.state is None:
            return
        shown = plan.rows(self.state, running)
        self.query_one(FilterTable).set_rows([(f"row-{n}", self.styled(row)) for n, row in enumerate(shown)])

    @staticmethod
    def styled(row: tuple[str, ...]) -> tuple[str | Text, ...]:
        result = row[3]
        style = RESULT_STYLE.get(result) or ("b red" if result.startswith("FAILED") else
                                             "dim" if result.startswith("skipped") else "b yellow")
        return (*row[:3], cell(result, style), *row[4:])

    def finished(self, outcome: tour.TourOutcome | None, error: str | None) -> None:
        self.running = False
        box = self.query_one("#tour-result", Plain)
        if outcome is None:
            box.update(assemble(("The tour could not run: ", "b red"), error or ""))
            self.sync_buttons()
            return
        self.state = state = outcome.state
        self.resumable = state.unfinished
        self.show_state()
        where = (assemble((state.vm, "b"), " is on ", (outcome.location, "b"), ".") if outcome.location
                 else assemble((state.vm, "b"), (" was not found on any node that answered.", "b red")))
        lines: list = []
        for r in state.results:
            if not r.passed:
                then = " (passed when resumed)" if state.retried(r) else ""
                lines += [assemble((f"✖ hop {r.index + 1} {r.move.source} → {r.move.destination} failed{then}:",
                                    "b red")),
                          r.move.error or "no error text"]
                if r.move.cause:
                    lines.append(assemble(("Likely cause:", "b"), f" {events.describe(r.move.cause)}"))
        if outcome.ok:
            head = assemble((f"✔ Tour complete: every hop passed ({state.passed} of {len(state.hops)}).", "b green"))
        elif state.unfinished:
            head = assemble((f"Tour {state.status}: {len(state.remaining)} hop(s) left", "b yellow"),
                            " — fix the cause, then r resumes from the VM's node" if state.status == "failed"
                            else " — r resumes from the VM's node")
        else:
            head = assemble((f"Tour complete: {state.passed} of {len(state.hops)} hop(s) passed.", "b red"))
        box.update(join_lines([head, where, *lines]))
        self.query_one("#tour-summary", Plain).update(assemble(f"Tour {state.id} of ", (state.vm, "b"),
                                                               f" · reason: {state.reason}"))
        self.sync_buttons()
        self.app.post_message(ClusterChanged())  # the VM moved
