"""The lmdoctor console: one keyboard-driven app over a session (lab or real cluster)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from importlib import resources

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import Screen

from lmdoctor.services.domain.diagnosis import diagnose
from lmdoctor.services.domain.models import Finding, Snapshot
from lmdoctor.services.domain.safetext import visible
from lmdoctor.services.operations.inventory import take_snapshot
from lmdoctor.services.operations.session import Session
from lmdoctor.services.storage.error_log import describe
from lmdoctor.tui.text import markup_literal

Clock = Callable[[], datetime]


class InventoryUpdated(Message):
    """A fresh snapshot and its findings are on the app."""


class LmDoctorApp(App[int]):
    CSS_PATH = str(resources.files("lmdoctor.styles") / "app.tcss")
    TITLE = "lmdoctor"
    BINDINGS = [
        Binding("question_mark,f1", "help", "Help", key_display="?", id="app.help"),
        Binding("colon", "command_palette", "Palette", show=False, key_display=":", id="app.palette"),
        Binding("ctrl+t", "cycle_theme", "Theme", show=False, id="app.theme"),
        Binding("ctrl+r", "refresh", "Refresh", show=False, id="app.refresh"),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    def __init__(self, session: Session, clock: Clock | None = None) -> None:
        super().__init__()
        self.session = session
        self.clock: Clock = clock or (lambda: datetime.now(timezone.utc))
        self.snapshot: Snapshot | None = None
        self.findings: list[Finding] = []
        self.as_of: datetime | None = None
        self.inventory_error: str | None = None
        self.sub_title = session.label

    # --- text sinks: values from outside lmdoctor are shown, never parsed as markup or sent as controls ------
    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Every notification is text: its message often carries a value (a remedy, an error, a host's answer)."""
        super().notify(visible(message, multiline=True), title=visible(title), severity=severity,
                       timeout=timeout, markup=False)

    def format_title(self, title: str, sub_title: str) -> Content:
        return super().format_title(visible(title), visible(sub_title))

    def on_mount(self) -> None:
        from lmdoctor.tui.screens.nodes import NodesScreen

        self.load_settings()
        self.push_screen(NodesScreen())
        self.refresh_inventory()

    # --- settings (console.toml: theme, keymap) ----------------------------------------
    def load_settings(self) -> None:
        from lmdoctor.services.storage import config
        from lmdoctor.tui import keymap

        try:
            problems = keymap.apply(self, config.load())
        except config.ConfigError as exc:
            problems = [str(exc)]
        self._settings_loaded = True
        for problem in problems:
            self.notify(problem, title="console.toml", severity="error", timeout=15)

    def action_cycle_theme(self) -> None:
        from lmdoctor.tui import keymap

        self.theme = keymap.next_theme(self.theme, self.available_themes)

    def watch_theme(self, theme: str) -> None:
        from lmdoctor.services.storage import config

        if not getattr(self, "_settings_loaded", False):  # the theme from console.toml, not a choice to save
            return
        try:
            config.save_theme(theme)
        except (config.ConfigError, OSError) as exc:
            self.notify(f"theme not saved: {exc}", title="console.toml", severity="warning")

    def switch_session(self, session: Session) -> None:
        """Use `session` from now on (a profile was opened): close the old one and read the new cluster."""
        old, self.session = self.session, session
        self.snapshot, self.findings, self.as_of, self.inventory_error = None, [], None, None
        self.sub_title = session.label
        old.close()
        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.refresh_inventory()

    # --- inventory ---------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="inventory")
    def refresh_inventory(self) -> None:
        def progress(message: str, done: int, total: int) -> None:
            self.call_from_thread(self._inventory_progress, message, done, total)

        session = self.session
        try:
            snapshot = take_snapshot(session.directory, session.hosts, session.cluster,
                                     session.configured_nodes, progress=progress, operator=session.operator)
            findings = diagnose(snapshot)
        except Exception as exc:  # shown to the user; the console stays up
            if session is self.session:
                self.call_from_thread(self._inventory_failed, describe(exc))
            return
        if session is self.session:  # not a cluster the user has switched away from
            self.call_from_thread(self._inventory_done, snapshot, findings)

    def _inventory_progress(self, message: str, done: int, total: int) -> None:
        for screen in self.screen_stack:
            if hasattr(screen, "show_progress"):
                screen.show_progress(message, done, total)

    def _inventory_done(self, snapshot: Snapshot, findings: list[Finding]) -> None:
        self.snapshot, self.findings, self.inventory_error = snapshot, findings, None
        self.as_of = self.clock()
        self._broadcast()

    def _inventory_failed(self, error: str) -> None:
        self.inventory_error = error
        self.notify(error, title="Inventory failed", severity="error", timeout=10)
        self._broadcast()

    def _broadcast(self) -> None:
        for screen in self.screen_stack:
            screen.post_message(InventoryUpdated())

    # --- actions -----------------------------------------------------------------------
    def action_refresh(self) -> None:
        self.refresh_inventory()

    def action_help(self) -> None:
        from lmdoctor.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def open_findings(self, node: str | None = None, focus: str | None = None) -> None:
        from lmdoctor.tui.screens.findings import FindingsScreen

        self.push_screen(FindingsScreen(node, focus))

    def open_fix(self, findings: list[Finding]) -> None:
        from lmdoctor.tui.screens.fix import FixScreen

        def closed(wrote: bool | None) -> None:
            if wrote:
                self.refresh_inventory()

        self.push_screen(FixScreen(findings), closed)

    def open_migrate(self, vm: str | None = None, destination: str | None = None) -> None:
        from lmdoctor.tui.screens.migrate import MigrateScreen

        self.push_screen(MigrateScreen(vm, destination))

    def open_tour(self, vm: str | None = None) -> None:
        from lmdoctor.tui.screens.tour import TourScreen

        self.push_screen(TourScreen(vm))

    def open_journal(self) -> None:
        from lmdoctor.tui.screens.journal import JournalScreen

        self.push_screen(JournalScreen())

    def open_walkthrough(self) -> None:
        from lmdoctor.tui.screens.walkthrough import WalkthroughScreen

        self.push_screen(WalkthroughScreen())

    def open_matrix(self) -> None:
        from lmdoctor.tui.screens.matrix import MatrixScreen

        self.push_screen(MatrixScreen())

    def open_connect(self) -> None:
        from lmdoctor.tui.screens.connect import ConnectScreen

        self.push_screen(ConnectScreen())

    def open_drain(self, name: str) -> None:
        from lmdoctor.tui.screens.drain import DrainScreen

        self.push_screen(DrainScreen(name))

    def open_node(self, name: str) -> None:
        from lmdoctor.tui.screens.node import NodeScreen

        self.push_screen(NodeScreen(name))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Refresh inventory", "Read the directory and every host again", self.action_refresh)
        yield SystemCommand("Findings", "Everything wrong, with evidence and fixes", self.open_findings)
        yield SystemCommand("Test Move-VM", "Pre-flight, live move with progress, verify", self.open_migrate)
        yield SystemCommand("Migration tour", "One test VM through every node and back, hop by hop",
                            self.open_tour)
        yield SystemCommand("Guided walkthrough", "The runbook step by step, on this cluster", self.open_walkthrough)
        yield SystemCommand("Delegation matrix", "Source × destination: who may migrate to whom", self.open_matrix)
        yield SystemCommand("Profiles", "Connect to a cluster: create, edit, switch profiles", self.open_connect)
        yield SystemCommand("Journal and rollback", "Every change lmdoctor made, and undo", self.open_journal)
        yield SystemCommand("Help", "Keys and what each screen shows", self.action_help)
        yield SystemCommand("Next theme", "Cycle the built-in themes (saved in console.toml)", self.action_cycle_theme)
        if self.snapshot:
            for node in self.snapshot.nodes:
                name = markup_literal(node.name)  # the palette reads its titles as markup
                yield SystemCommand(f"Node {name}", f"SPNs, delegation, events and findings of {name}",
                                    lambda n=node.name: self.open_node(n))

    def on_unmount(self) -> None:
        self.session.close()


def run_app(args: argparse.Namespace) -> int:
    from lmdoctor.services.operations.session import UsageError, open_settled_session
    from lmdoctor.services.storage import profiles
    from lmdoctor.services.storage.credentials import ask_on_terminal

    if not args.demo and args.profile is None and args.lab_dir is None:
        names = profiles.list_names()
        if names:
            print("lmdoctor: choose --demo or --profile NAME (profiles: " + ", ".join(names) + ")")
            return 2
        args.demo = True
    try:
        session = open_settled_session(args, ask_on_terminal, say_on_stderr)  # in-doubt changes and expired CredSSP windows settled first
    except UsageError as exc:
        print(visible(f"lmdoctor: {exc}"))
        return 2
    except Exception as exc:  # a DC or host down, a bad profile: one clear line, no traceback
        print(visible(f"lmdoctor: cannot open the session: {describe(exc)}"))
        return 2
    return LmDoctorApp(session).run() or 0


def say_on_stderr(text: str) -> None:
    """What settling the journal reports before the console starts."""
    print(visible(text), file=sys.stderr)
