"""The home screen: every cluster node with its migration settings and a health badge."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable

from lmdoctor.services.domain.summary import node_row
from lmdoctor.services.operations import credssp
from lmdoctor.services.storage.error_log import describe
from lmdoctor.tui.messages import OpenDrain, OpenNode
from lmdoctor.tui.screens.base import BaseScreen
from lmdoctor.tui.text import cell, join_lines
from lmdoctor.tui.widgets.badges import badge, yes_no
from lmdoctor.tui.widgets.filter_table import FilterTable
from lmdoctor.tui.widgets.plain import Plain

COLUMNS = ("Node", "Cluster", "Migration", "Auth", "Performance", "Max", "Protocol transition", "VMs", "Health")


class NodesScreen(BaseScreen):
    HELP = ("Every node of the cluster: state, whether live migration is enabled, the migration "
            "authentication type (Kerberos or CredSSP), performance option, whether its AD account may "
            "use protocol transition, its VMs, and a health badge from the diagnosis. Enter opens a node.")
    BINDINGS = [
        Binding("enter", "open_node", "Details", show=False, id="nodes.open_node"),
        Binding("f", "app.open_findings", "Findings", id="nodes.findings"),
        Binding("m", "app.open_migrate", "Test Move-VM", id="nodes.migrate"),
        Binding("w", "app.open_walkthrough", "Walkthrough", id="nodes.walkthrough"),
        Binding("x", "app.open_matrix", "Matrix", id="nodes.matrix"),
        Binding("d", "drain", "Drain?", id="nodes.drain"),
        Binding("t", "app.open_tour", "Tour", id="nodes.tour"),
        Binding("j", "app.open_journal", "Journal", id="nodes.journal"),
        Binding("p", "app.open_connect", "Profiles", id="nodes.connect"),
        Binding("r", "app.refresh", "Refresh", id="nodes.refresh"),
    ]

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield FilterTable(COLUMNS, id="nodes")
        yield Plain("", id="credssp-window")
        yield from self.compose_bottom()

    def __init__(self) -> None:
        super().__init__()
        self.windows: list[credssp.Window] = []

    def on_mount(self) -> None:
        self.query_one(FilterTable).table.focus()
        self.follow_inventory(self.render_nodes)
        self.set_interval(1, self.render_countdown)

    def render_countdown(self) -> None:
        """Open CredSSP windows with the time left (the journal is re-read with each inventory)."""
        now = self.app.clock()
        lines = [w.describe(now) for w in self.windows]
        if lines:
            lines.append("Credential Guard (default on Windows Server 2025) blocks CredSSP migration")
        widget = self.query_one("#credssp-window", Plain)
        widget.update(join_lines((f"⚠ {line}", "b yellow") for line in lines))
        widget.display = bool(lines)

    def render_nodes(self) -> None:
        self.set_status(self.as_of_text())
        try:
            self.windows = credssp.windows(self.app.session.remediator)
        except Exception as exc:  # a damaged journal: say so, keep the screen
            self.windows = []
            self.app.notify(describe(exc), title="Journal unreadable", severity="error")
        self.render_countdown()
        snapshot = self.app.snapshot
        if snapshot is None:
            return
        rows = []
        for node in snapshot.nodes:
            r = node_row(node, self.app.findings)
            reachable = r["reachable"]
            rows.append((node.name, (
                cell(node.name, "bold"),
                cell(r["state"], "green" if r["state"] == "Up" else "bold red"),
                yes_no(r["migration_enabled"]) if reachable else Text("unreachable", style="bold red"),
                Text(r["auth_type"] or "?", style="bold red" if r["auth_type"] == "CredSSP" else ""),
                r["performance_option"] or "?",
                str(r["max_migrations"] or "?"),
                yes_no(r["protocol_transition"]),
                ", ".join(r["vms"]) or "—",
                badge(r["health"]),
            )))
        self.query_one(FilterTable).set_rows(rows)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.post_message(OpenNode(event.row_key.value))

    def action_open_node(self) -> None:
        key = self.query_one(FilterTable).selected_key
        if key:
            self.post_message(OpenNode(key))

    def action_drain(self) -> None:
        key = self.query_one(FilterTable).selected_key
        if key:
            self.post_message(OpenDrain(key))

    def action_back(self) -> None:
        """The home screen has nowhere to go back to."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action != "back"  # no "Esc Back" in the home screen's footer
