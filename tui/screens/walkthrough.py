"""The guided walkthrough: the runbook step by step on this cluster, resumable, with the commands it runs."""

from __future__ import annotations

from datetime import timedelta

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import ProgressBar

from lmdoctor.services.domain.models import Finding, MoveProgress, MoveResult, Snapshot
from lmdoctor.services.domain.safetext import visible
from lmdoctor.services.operations import credssp, readonly
from lmdoctor.services.operations.migration import preview
from lmdoctor.services.operations.remediation import RemediationError
from lmdoctor.services.operations.walkthrough import (
    CREDSSP_MINUTES,
    PURPOSE,
    STEPS,
    TITLES,
    Step,
    StepResult,
    Walkthrough,
)
from lmdoctor.services.storage.error_log import describe
from lmdoctor.tui.keymap import key_hint
from lmdoctor.tui.messages import ClusterChanged, OpenFix
from lmdoctor.tui.screens.base import BaseScreen
from lmdoctor.tui.screens.confirm import ReasonDialog
from lmdoctor.tui.screens.restyle import RestyleWhenStale
from lmdoctor.tui.text import assemble, join_lines, typed_lines
from lmdoctor.tui.widgets.plain import Plain, PlainLabel

STATUS_STYLE = {"ok": "b green", "problem": "b red", "manual": "b dark_orange", "optional": "b cyan",
                "pending": "b yellow"}


class ConfirmSkip(RestyleWhenStale[bool], ModalScreen[bool]):
    """One line: skip a step whose condition does not hold? y / n."""

    BINDINGS = [
        Binding("y", "answer(True)", "Skip it", id="walkthrough.skip_confirm"),
        Binding("n,escape", "answer(False)", "Stay", id="walkthrough.skip_cancel"),
    ]

    def __init__(self, step: str) -> None:
        super().__init__()
        self.step = step

    def compose(self) -> ComposeResult:
        with Vertical(classes="confirm-line"):
            yield PlainLabel(assemble(f"Skip '{self.step}' although its condition does not hold?  ",
                                      ("y", "b"), " skip · ", ("n", "b"), "/Esc stay"), id="skip-question")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class WalkthroughScreen(BaseScreen):
    HELP = ("The runbook, step by step, on this cluster: Symptom → Environment → Triage → Diagnosis → Fix → "
            "(optional) CredSSP window → Verify → Rollback → Prevention. Each step runs its checks and shows what it "
            "found and the PowerShell/AD commands it ran or would run (c copies them). Enter moves on only when the "
            "step's condition holds; s skips deliberately (asks first). Progress is kept per cluster: reopening "
            "continues where you left off.")
    BINDINGS = [  # the step's own action first: the footer is narrow at 80 columns
        Binding("f", "fix", "Fix", id="walkthrough.fix"),
        Binding("g", "verify", "Move-VM", id="walkthrough.verify"),
        Binding("o", "credssp", "Open CredSSP", id="walkthrough.credssp"),
        Binding("k", "close_credssp", "Close CredSSP", id="walkthrough.close_credssp"),
        Binding("u", "undo", "Journal", id="walkthrough.undo"),
        Binding("enter,n", "next", "Next", key_display="⏎", id="walkthrough.next"),
        Binding("s", "skip", "Skip", id="walkthrough.skip"),
        Binding("b", "back_step", "Prev", id="walkthrough.back_step"),
        Binding("c", "copy", "Copy", id="walkthrough.copy"),
        Binding("r", "recheck", "Check", id="walkthrough.recheck"),
        Binding("R", "restart", "Restart", key_display="R", id="walkthrough.restart"),
    ]
    STEP_ACTIONS = {"verify": Step.VERIFY, "credssp": Step.CREDSSP, "undo": Step.ROLLBACK,
                    "close_credssp": Step.ROLLBACK}

    def __init__(self) -> None:
        super().__init__()
        # the session's runbook state, made with the screen: the key bar may ask check_action before on_mount
        self.walkthrough = Walkthrough(self.app.session)
        self.result: StepResult | None = None
        self.moving = False

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield Plain("", id="wt-rail")
        yield Plain("", id="wt-headline")
        with VerticalScroll(id="wt-body"):
            yield Plain("", id="wt-found", classes="detail")
            yield Plain("", id="wt-commands", classes="detail")
        yield ProgressBar(total=100, show_eta=False, id="wt-progress", classes="hidden")
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        self.render_step()
        self.follow_inventory(self.check_step)

    # --- checking ---------------------------------------------------------------------------
    def check_step(self) -> None:
        """Check the current step on the inventory in hand (again); the result shows when it is in."""
        inventory = self.app.inventory
        if inventory.snapshot is None or self.walkthrough.state.finished:
            self.render_step()
            return
        self.run_check(inventory.snapshot, inventory.findings)

    @work(thread=True, exclusive=True, group="walkthrough-check")  # a newer check replaces one under way
    def run_check(self, snapshot: Snapshot, findings: list[Finding]) -> None:
        step = self.walkthrough.current
        try:
            result = self.walkthrough.check(snapshot, findings)
        except Exception as exc:  # shown on screen; the console stays up
            result = StepResult(step, False, "problem", f"The check could not run: {describe(exc)}")
        self.app.call_from_thread(self._checked, result)

    def _checked(self, result: StepResult) -> None:
        if result.step == self.walkthrough.current:
            self.result = result
        self.render_step()

    @property
    def current_result(self) -> StepResult | None:
        r = self.result
        return r if r is not None and self.walkthrough and r.step == self.walkthrough.current else None

    # --- rendering --------------------------------------------------------------------------
    def render_step(self) -> None:
        wt = self.walkthrough
        self.set_status(self.as_of_text())
        self.query_one("#wt-rail", Plain).update(self._rail())
        headline = self.query_one("#wt-headline", Plain)
        found = self.query_one("#wt-found", Plain)
        commands = self.query_one("#wt-commands", Plain)
        if wt.state.finished:
            done = [TITLES[s] for s in STEPS if wt.state.outcomes.get(s) == "done"]
            skipped = [TITLES[s] for s in STEPS if wt.state.outcomes.get(s) == "skipped"]
            headline.update(assemble(("✔ Walkthrough complete.", "b green"),
                                     f" {key_hint(self, 'walkthrough.back_step')} goes back a step · "
                                     f"{key_hint(self, 'walkthrough.restart')} starts over"))
            found.update(f"Done: {', '.join(done) or 'none'}\nSkipped: {', '.join(skipped) or 'none'}")
            commands.update("")
        else:
            step = wt.current
            result = self.current_result
            inventory = self.app.inventory
            if result is None and inventory.snapshot is None and inventory.error:
                headline.update(assemble((f"Cannot check {TITLES[step]}: the inventory failed.", "b red"),
                                         f" {key_hint(self, 'app.refresh')} tries again"))
                found.update(inventory.error)
                commands.update("")
            elif result is None:
                headline.update(assemble((TITLES[step], "b"), " · checking…"))
                found.update(PURPOSE[step])
                commands.update("")
            else:
                style = STATUS_STYLE.get(result.status, "b")
                nxt = "⏎ next" if result.met else "s skips"
                headline.update(assemble((result.headline, style), "  ", (f"({nxt})", "dim")))
                found.update(assemble((PURPOSE[step], "dim"), "\n\n", typed_lines(result.found)))
                commands.update(join_lines(["", assemble(("Commands", "b u"), " ", ("(c copies)", "dim")),
                                            *((f"$ {c}", "cyan") for c in result.commands)])
                                if result.commands else "")
        self.refresh_bindings()

    def _rail(self) -> Content:
        wt = self.walkthrough
        marks: list[Content] = []
        for i, step in enumerate(STEPS, start=1):
            outcome = wt.state.outcomes.get(step)
            if step == wt.current and not wt.state.finished:
                marks.append(assemble((f" {i} {TITLES[step]} ", "reverse b")))
            elif outcome == "done":
                marks.append(assemble(("✔", "green")))
            elif outcome == "skipped":
                marks.append(assemble(("»", "dark_orange")))
            else:
                marks.append(assemble(("·", "dim")))
        return assemble(f"Step {wt.index + 1}/{len(STEPS)} ", Content(" ").join(marks))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        wt = self.walkthrough
        if action == "restart":
            return wt.state.finished
        if action in ("next", "skip", "copy", "recheck") and wt.state.finished:
            return False
        if action == "fix":
            return bool(self.current_result and self.current_result.fixable) and not wt.state.finished
        if action in self.STEP_ACTIONS:
            return wt.current == self.STEP_ACTIONS[action] and not wt.state.finished
        return True

    # --- navigation -------------------------------------------------------------------------
    def _moved(self) -> None:
        self.result = None
        self.query_one("#wt-body", VerticalScroll).scroll_home(animate=False)
        self.render_step()
        self.check_step()

    def action_next(self) -> None:
        result = self.current_result
        if result is None:
            self.notify("Still checking…")
            return
        if not self.walkthrough.advance(result):
            self.notify(f"{result.headline} — {key_hint(self, 'walkthrough.skip')} skips this step deliberately.", title="Condition not met",
                        severity="warning")
            return
        self._moved()

    def action_back_step(self) -> None:
        self.walkthrough.back()
        self._moved()

    def action_skip(self) -> None:
        step = TITLES[self.walkthrough.current]

        def answered(yes: bool | None) -> None:
            if yes:
                self.walkthrough.skip()
                self._moved()

        self.app.push_screen(ConfirmSkip(step), answered)

    def action_restart(self) -> None:
        self.walkthrough.restart()
        self._moved()

    def action_recheck(self) -> None:
        self.result = None
        self.render_step()
        self.app.refresh_inventory()  # the check runs again when the fresh snapshot arrives

    def action_copy(self) -> None:
        result = self.current_result
        if not result or not result.commands:
            self.notify("No commands on this step.")
            return
        self.app.copy_to_clipboard("\n".join(visible(c) for c in result.commands))  # what is shown is what is copied
        self.notify(f"Copied {len(result.commands)} command(s) to the clipboard.")

    # --- step actions -----------------------------------------------------------------------
    def action_fix(self) -> None:
        result = self.current_result
        if result and result.fixable:
            self.post_message(OpenFix(result.fixable))

    def action_credssp(self) -> None:
        snapshot = self.app.snapshot
        hosts = self.walkthrough.credssp_hosts(snapshot) if snapshot else []
        if not hosts:
            self.notify("No CredSSP window to open: no test pair yet, or it already uses CredSSP.")
            return
        if self.app.session.read_only:
            self.notify("Read-only session: nothing will be written.", severity="warning")
            return
        until = self.app.clock() + timedelta(minutes=CREDSSP_MINUTES)
        body = "\n".join(f"{h}: VirtualMachineMigrationAuthenticationType Kerberos → CredSSP\n"
                         f"    Set-VMHost -ComputerName {h} -VirtualMachineMigrationAuthenticationType CredSSP"
                         for h in hosts)
        body += (f"\n\nReverts to Kerberos at {until:%H:%M} UTC ({CREDSSP_MINUTES} min), or earlier with k on the "
                 f"Rollback step. Journaled; undo from the journal.\n\n{credssp.CREDENTIAL_GUARD_WARNING}.")

        def answered(reason: str | None) -> None:
            if reason and snapshot:
                self.write_credssp(reason, open_on=snapshot)

        self.app.push_screen(ReasonDialog(f"Open a CredSSP window on {', '.join(hosts)}", body, "Open window"),
                             answered)

    def action_close_credssp(self) -> None:
        windows = credssp.windows(self.app.session.remediator)
        if not windows:
            self.notify("No CredSSP window is open.")
            return
        body = "\n".join(f"{w.host}: CredSSP → {w.entry.before[0]} ({w.describe(self.app.clock())})" for w in windows)

        def answered(reason: str | None) -> None:
            if reason:
                self.write_credssp(reason, open_on=None)

        self.app.push_screen(ReasonDialog("Close the CredSSP window", body, "Close window"), answered)

    @work(thread=True, group="write")  # a write runs to its end: never replaced by the next one
    def write_credssp(self, reason: str, open_on: Snapshot | None) -> None:
        """Open the CredSSP window on the test pair of `open_on`, or close the open window (None)."""
        wt, app = self.walkthrough, self.app
        open_window = open_on is not None
        try:
            if open_on is not None:
                outcomes = wt.open_credssp(open_on, reason, app.clock())
                ok = all(o.ok for o in outcomes)
            else:
                outcome = wt.close_credssp(reason)
                ok = outcome is None or outcome.ok
            message, severity = ("CredSSP window " + ("opened" if open_window else "closed"), "information") if ok \
                else ("The CredSSP change did not complete: see the journal (j)", "error")
        except RemediationError as exc:
            message, severity = f"Not written: {exc}", "error"
        app.call_from_thread(self.notify, message, severity=severity)
        app.post_message(ClusterChanged())

    async def action_undo(self) -> None:
        """The journal, where changes are rolled back (a screen action: it is offered on the Rollback step only)."""
        await self.run_action("app.open_journal")

    def action_verify(self) -> None:
        snapshot = self.app.snapshot
        if self.moving or snapshot is None:
            return
        if self.walkthrough.state.test_move is None:
            self.notify(f"No test move chosen yet: go back to Symptom ({key_hint(self, 'walkthrough.back_step')}).",
                        severity="warning")
            return
        if self.app.session.read_only:
            self.notify(str(readonly.refusal(readonly.LIVE_MOVE)), severity="warning")
            return
        if self.walkthrough.verified_already(snapshot):
            self._start_verify(snapshot, "")  # nothing moves: the earlier result is shown again
            return
        request = self.walkthrough.verify_request(snapshot)

        def confirmed(reason: str | None) -> None:
            if reason is not None and not self.moving:
                self._start_verify(snapshot, reason)

        self.app.push_screen(ReasonDialog(f"Live test move of {request.vm}", "\n".join(preview(request)),
                                          "Move the VM"), confirmed)

    def _start_verify(self, snapshot: Snapshot, reason: str) -> None:
        self.moving = True
        bar = self.query_one("#wt-progress", ProgressBar)
        bar.update(progress=0)
        bar.remove_class("hidden")
        self.run_verify(snapshot, reason)

    @work(thread=True, group="walkthrough-move")  # one at a time (self.moving); a move is never replaced
    def run_verify(self, snapshot: Snapshot, reason: str) -> None:
        def progress(p: MoveProgress) -> None:
            self.app.call_from_thread(self._progress, p.percent, f"{p.activity}: {p.status}")

        def step(message: str) -> None:
            self.app.call_from_thread(self._progress, None, message)

        try:
            result: MoveResult | None = self.walkthrough.run_verify(snapshot, reason, progress=progress,
                                                                      step=step)
        except Exception as exc:  # shown; the console stays up
            step(f"The test move could not be attempted: {describe(exc)}")
            result = None
        self.app.call_from_thread(self._verified, result)

    def _progress(self, percent: int | None, message: str) -> None:
        if percent is not None:
            self.query_one("#wt-progress", ProgressBar).update(progress=percent)
        self.query_one("#wt-headline", Plain).update(assemble(("Verify", "b"), f" · {message}"))

    def _verified(self, result: MoveResult | None) -> None:
        self.moving = False
        self.query_one("#wt-progress", ProgressBar).add_class("hidden")
        if result is not None and result.ok and not result.what_if:
            self.app.post_message(ClusterChanged())  # the VM moved; the check runs again on the new snapshot
        else:
            self.check_step()
