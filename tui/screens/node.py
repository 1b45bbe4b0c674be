"""One node in depth: SPNs, delegation (decoded), classified events, and its findings."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, TabbedContent, TabPane

from lmdoctor.services.domain import events as event_rules
from lmdoctor.services.domain import matrix
from lmdoctor.services.domain.models import NodeSnapshot, Snapshot
from lmdoctor.services.domain.spn import required_host_spns, spn_key
from lmdoctor.tui.messages import OpenFindings, OpenMigrate
from lmdoctor.tui.screens.base import BaseScreen
from lmdoctor.tui.screens.matrix import TONE_STYLE
from lmdoctor.tui.text import Part, assemble, cell, join_lines, shown
from lmdoctor.tui.widgets.badges import badge, yes_no
from lmdoctor.tui.widgets.filter_table import FilterTable, Row
from lmdoctor.tui.widgets.plain import Plain

TONE_MARK = {"ok": "✔ ", "warning": "▲ ", "error": "✖ "}


class NodeScreen(BaseScreen):
    HELP = ("One node in depth. 1 SPNs: required vs registered (short name and FQDN) and who holds each; "
            "2 Delegation: msDS-AllowedToDelegateTo decoded, protocol transition, unconstrained, RBCD, and "
            "which peers this node can migrate to; 3 Events: recent VMMS-Admin events classified to a cause; "
            "4 Findings (Enter opens the fix).")
    BINDINGS = [
        Binding("1", "tab('spns')", "SPNs", id="node.tab_spns"),
        Binding("2", "tab('delegation')", "Delegation", id="node.tab_delegation"),
        Binding("3", "tab('events')", "Events", id="node.tab_events"),
        Binding("4", "tab('findings')", "Findings", id="node.tab_findings"),
        Binding("m", "migrate", "Test Move-VM", id="node.migrate"),
    ]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.node_name = name
        self._stale_tabs: set[str] = set()  # tabs not yet rendered for this node and inventory

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        with TabbedContent(initial="spns"):
            with TabPane("SPNs", id="spns"):
                yield FilterTable(("Service principal name", "Registered", "Held by"), id="spn-table")
            with TabPane("Delegation", id="delegation"):
                with VerticalScroll():
                    yield Plain(id="delegation-flags")
                    yield FilterTable(("Destination", "Can migrate to it?", "Missing"), id="peer-table")
                    yield Plain(id="delegation-values")
            with TabPane("Events", id="events"):
                yield FilterTable(("Time (UTC)", "Id", "Level", "Cause", "Message"), id="event-table")
                yield Plain(id="event-detail", classes="detail")
            with TabPane("Findings", id="findings"):
                yield FilterTable(("Severity", "Code", "Finding"), id="finding-table")
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        # a tab is rendered as it becomes active (key or click), before the paint that shows it
        self.watch(self.query_one(TabbedContent), "active", self._render_tab, init=False)
        self.follow_inventory(self.render_node)

    def show_node(self, name: str) -> None:
        """Another node on this screen (one is kept for every node): rendered when the screen is shown, from its
        first tab, as a node's own screen would open."""
        if name != self.node_name:
            self.node_name = name
            if self.is_mounted:  # else on_mount renders it
                self.action_tab("spns")
                self.render_when_shown(self.render_node)

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_migrate(self, destination: str | None = None) -> None:
        """The test Move-VM from this node: its first VM, to `destination` when one is chosen."""
        node = self.node
        vm = node.host.vms[0].name if node and node.host and node.host.vms else None
        self.post_message(OpenMigrate(vm, destination))

    @property
    def node(self) -> NodeSnapshot | None:
        snapshot = self.app.snapshot
        return snapshot.node(self.node_name) if snapshot else None

    def render_node(self) -> None:
        """The status line and the tab shown; each other tab when it is shown (a 64-node cluster's delegation tab
        alone is 63 peers and 252 values)."""
        self.set_status((self.node_name, "b"), " · ", self.as_of_text())
        self._stale_tabs = {pane.id for pane in self.query(TabPane) if pane.id}
        self._render_tab(self.query_one(TabbedContent).active)

    def _render_tab(self, tab: str) -> None:
        snapshot = self.app.snapshot
        node = snapshot.node(self.node_name) if snapshot else None
        if snapshot is None or node is None or tab not in self._stale_tabs:
            return
        self._stale_tabs.discard(tab)
        if tab == "spns":
            self._render_spns(node, snapshot)
        elif tab == "delegation":
            self._render_delegation(node, snapshot)
        elif tab == "events":
            self._render_events(node)
        else:
            mine = [f for f in self.app.findings if self.node_name in (f.source, f.target)]
            self.query_one("#finding-table", FilterTable).set_rows(
                [(f.id, (badge(f.severity.value), f.code, f.message)) for f in mine])

    def _render_spns(self, node: NodeSnapshot, snapshot: Snapshot) -> None:
        have = {spn_key(s) for s in node.account.spns} if node.account else set()
        owners = snapshot.spn_owners
        rows: list[Row] = []
        for spn in required_host_spns(node.name, node.fqdn):
            held = owners.get(spn_key(spn), ())
            held_text = cell(", ".join(held) or "—", "bold red" if len(held) > 1 else "")
            rows.append((spn, (spn, yes_no(spn_key(spn) in have), held_text)))
        extra = [s for s in (node.account.spns if node.account else ()) if spn_key(s) not in {spn_key(r) for r, _ in rows}]
        rows += [(s, (cell(s, "dim"), Text("extra", style="dim"), node.name)) for s in extra]
        self.query_one("#spn-table", FilterTable).set_rows(rows)

    def _render_delegation(self, node: NodeSnapshot, snapshot: Snapshot) -> None:
        a = node.account
        if a is None:
            self.query_one("#delegation-flags", Plain).update(assemble(("No computer account found.", "b red")))
            return
        rbcd = ", ".join(a.rbcd_principals) or "none"
        self.query_one("#delegation-flags", Plain).update(join_lines([
            (a.dn, "b"),
            f"userAccountControl = {a.uac_text}",
            assemble("  Protocol transition (0x1000000, 'use any authentication protocol'): ",
                     ("yes", "green") if a.protocol_transition else ("no — Kerberos only", "b red")),
            assemble("  Unconstrained (0x80000): ", ("yes — risk", "b red") if a.unconstrained else ("no", "green")),
            f"Resource-based delegation (msDS-AllowedToActOnBehalfOfOtherIdentity): {rbcd}",
            "",
        ]))
        rows: list[Row] = []
        for (_, peer), status in matrix.statuses(snapshot, matrix.row(snapshot, node.name)).items():
            tone = matrix.tone(status)  # the matrix's verdict: SMB storage of both ends counts
            rows.append((peer, (peer, cell(TONE_MARK[tone] + status.summary, TONE_STYLE[tone]),
                                ", ".join(status.missing) or "—")))
        self.query_one("#peer-table", FilterTable).set_rows(rows)
        values: list[Part] = [shown(f"  {v}") for v in a.allowed_to_delegate_to] or ["  (none)"]
        self.query_one("#delegation-values", Plain).update(
            join_lines([f"msDS-AllowedToDelegateTo ({len(a.allowed_to_delegate_to)} values):", *values]))

    def _render_events(self, node: NodeSnapshot) -> None:
        host = node.host
        if host is None or not host.reachable:
            self.query_one("#event-detail", Plain).update(
                assemble(("Host unreachable:", "b red"), " ", shown(host.error if host else "", multiline=True)))
            self.query_one("#event-table", FilterTable).set_rows([])
            return
        rows: list[Row] = []
        for i, e in enumerate(host.events):
            rows.append((str(i), (f"{e.time:%Y-%m-%d %H:%M}", str(e.event_id), e.level,
                                  event_rules.describe(e.cause) if e.cause else "—", e.message.splitlines()[0][:90])))
        self.query_one("#event-table", FilterTable).set_rows(rows)  # the highlighted row's event is shown again

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table is self.query_one("#event-table", FilterTable).table and event.row_key is not None:
            self._show_event(event.row_key.value)

    def _show_event(self, key: str | None) -> None:
        """The event under the cursor in full; nothing when the node has none."""
        host = self.node.host if self.node else None
        if host is None or not host.reachable:
            return  # _render_events says why
        detail = self.query_one("#event-detail", Plain)
        if key is None or int(key) >= len(host.events):  # a highlight from the node shown before
            detail.update("")
            return
        e = host.events[int(key)]
        detail.update(join_lines([
            assemble((f"{e.log} {e.event_id}", "b"), f" ({e.level})"),
            shown(e.message, multiline=True),
            assemble(("Likely cause:", "b"), f" {event_rules.describe(e.cause)}"),
        ]))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table is self.query_one("#finding-table", FilterTable).table:
            self.post_message(OpenFindings(self.node_name, focus=event.row_key.value))
        elif event.data_table is self.query_one("#peer-table", FilterTable).table:
            self.action_migrate(event.row_key.value)
