"""Drain readiness of one node: where each of its VMs would go now, or what blocks it (read-only)."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.content import Content

from lmdoctor.services.domain import drain
from lmdoctor.services.domain.errors import LmdoctorError
from lmdoctor.services.domain.models import Finding, Snapshot
from lmdoctor.services.operations import drain_preflight
from lmdoctor.services.storage.error_log import describe
from lmdoctor.tui.screens.base import BaseScreen
from lmdoctor.tui.text import assemble, cell
from lmdoctor.tui.widgets.filter_table import FilterTable
from lmdoctor.tui.widgets.plain import Plain

ASKING = "asking the hosts (Compare-VM)…"
COLUMNS = ("VM", "Memory", "Clustered", "Destination", "Blockers (destination: reason [finding that fixes it])")


class DrainScreen(BaseScreen):
    HELP = ("Can this node be drained now? Each VM, largest first, is placed on the first other node that passes "
            "every check (delegation, migration enabled and authentication type on both ends, simultaneous "
            "migration limits, configuration version, processor compatibility, VM storage on SMB shares), the "
            "host's own pre-flight (Compare-VM, whose incompatibilities are shown as the host words them, with "
            "their MessageId; Move-VM -WhatIf where Compare-VM is missing) found nothing, and it still has the "
            "memory free after the VMs placed before it. A VM placed nowhere lists every blocker with the finding "
            "that fixes it. Read-only: nothing is moved.")

    def __init__(self, name: str) -> None:
        super().__init__()
        self.node_name = name
        self.preflight: drain.Preflight = {}
        self.preflight_state = ASKING

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield Plain(id="drain-verdict")
        yield FilterTable(COLUMNS, id="drain-table")
        yield Plain(id="drain-notes")
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        self.query_one(FilterTable).table.focus()
        self.follow_inventory(self.inventory_read)

    def show_node(self, name: str) -> None:
        """Another node on this screen (one is kept for every node): its plan and pre-flight when shown."""
        if name != self.node_name:
            self.node_name = name
            self.preflight, self.preflight_state = {}, ASKING
            if self.is_mounted:  # else on_mount reads it
                self.render_when_shown(self.inventory_read)

    def inventory_read(self) -> None:
        """The plan on the inventory in hand, then, once it is painted, the hosts' own pre-flight for it."""
        self.render_plan()
        if self.app.snapshot is not None:
            self.call_after_refresh(self._ask, self.app.snapshot, self.app.findings, self.node_name)

    @work(thread=True, exclusive=True, group="drain-preflight")
    def _ask(self, snapshot: Snapshot, findings: list[Finding], node: str) -> None:
        """The node's host pre-flight for the pairs the plan reads (read-only), off the event loop."""
        try:
            collected = drain_preflight.collect(self.app.session.hosts, snapshot, node, findings)
        except LmdoctorError as exc:
            self.app.call_from_thread(self._answered, node, {}, f"host pre-flight failed: {describe(exc)}")
            return
        commands = ", ".join(sorted(set(collected.asked.values()) or {"Compare-VM"}))
        self.app.call_from_thread(self._answered, node, collected.answers,
                                  f"{commands}: {len(collected.asked)} pair(s) asked")

    def _answered(self, node: str, answers: drain.Preflight, state: str) -> None:
        if node != self.node_name:  # asked for the node shown before
            return
        self.preflight, self.preflight_state = answers, state
        self.render_plan()

    def render_plan(self) -> None:
        self.set_status(("Drain ", "bold"), (self.node_name, "bold"), " · ", self.as_of_text(), " · ",
                        self.preflight_state)
        snapshot = self.app.snapshot
        if snapshot is None:
            return
        plan = drain.plan(snapshot, self.node_name, self.preflight, findings=self.app.findings)
        self.query_one("#drain-verdict", Plain).update(verdict(plan))
        rows = []
        for p in plan.placements:
            blockers = tuple(  # one line each (the table's Lines); a value's own line feed stays shown as ␊
                cell(f"{b.destination or '-'}: {b.text}") + (cell(f" [{b.finding}]", "dim") if b.finding
                                                              else Text(""))
                for b in p.blockers)
            rows.append((p.vm, (
                cell(p.vm, "bold"), f"{p.memory / (1 << 30):.1f} GiB", "yes" if p.clustered else "no",
                cell(p.destination, "green") if p.destination else cell("nowhere", "bold red"),
                blockers)))
        self.query_one(FilterTable).set_rows(rows)
        self.query_one("#drain-notes", Plain).update(assemble("\n".join(plan.notes), style="dim"))


def verdict(plan: drain.DrainPlan) -> Content:
    if not plan.checked:
        return assemble(f"Could not check {plan.node}: {plan.error}", style="bold red")
    placed = sum(bool(p.destination) for p in plan.placements)
    if plan.drainable:
        return assemble(f"✔ {plan.node} can be drained: {placed} of {len(plan.placements)} VM(s) placed"
                        + (f", in {plan.waves} wave(s) of moves" if plan.waves else ""), style="bold green")
    return assemble(f"✖ {plan.node} cannot be drained: {placed} of {len(plan.placements)} VM(s) placed",
                    style="bold red")
