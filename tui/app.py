"""The lmdoctor console: one keyboard-driven app over a session (lab or real cluster)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from functools import partial
from importlib import resources

from textual.app import SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from lmdoctor.services.domain.safetext import visible
from lmdoctor.services.operations.session import Session, UsageError, open_settled_session
from lmdoctor.services.storage import config, profiles
from lmdoctor.services.storage.credentials import ask_on_terminal
from lmdoctor.services.storage.error_log import describe
from lmdoctor.tui import keymap
from lmdoctor.tui.console import Clock, Console
from lmdoctor.tui.kept_screens import KeptScreens
from lmdoctor.tui.messages import ClusterChanged, OpenDrain, OpenFindings, OpenFix, OpenMigrate, OpenNode, SessionOpened
from lmdoctor.tui.screens.connect import ConnectScreen
from lmdoctor.tui.screens.drain import DrainScreen
from lmdoctor.tui.screens.findings import FindingsScreen
from lmdoctor.tui.screens.fix import FixScreen
from lmdoctor.tui.screens.help import HelpScreen
from lmdoctor.tui.screens.journal import JournalScreen
from lmdoctor.tui.screens.matrix import MatrixScreen
from lmdoctor.tui.screens.migrate import MigrateScreen
from lmdoctor.tui.screens.node import NodeScreen
from lmdoctor.tui.screens.nodes import NodesScreen
from lmdoctor.tui.screens.tour import TourScreen
from lmdoctor.tui.screens.walkthrough import WalkthroughScreen
from lmdoctor.tui.text import markup_literal


class LmDoctorApp(Console):
    """Home is the nodes screen (the default screen); every other screen is pushed by an action or a message."""

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
        super().__init__(session, clock)
        self._settings_loaded = False
        self.kept = KeptScreens(self)

    def get_default_screen(self) -> Screen:
        return NodesScreen()

    def on_mount(self) -> None:
        self.load_settings()
        self.refresh_inventory()

    # --- settings (console.toml: theme, keymap) ----------------------------------------
    def load_settings(self) -> None:
        try:
            problems = keymap.apply(self, config.load())
        except config.ConfigError as exc:
            problems = [str(exc)]
        self._settings_loaded = True
        for problem in problems:
            self.notify(problem, title="console.toml", severity="error", timeout=15)

    def action_cycle_theme(self) -> None:
        self.theme = keymap.next_theme(self.theme, self.available_themes)

    def watch_theme(self, theme: str) -> None:
        if not self._settings_loaded:  # the theme from console.toml, not a choice to save
            return
        try:
            config.save_theme(theme)
        except (config.ConfigError, OSError) as exc:
            self.notify(f"theme not saved: {exc}", title="console.toml", severity="warning")

    # --- what screens ask for: actions (bound as app.…) and messages ------------------------
    def action_refresh(self) -> None:
        self.refresh_inventory()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            under = self.screen
            self.push_screen(self.kept.get(f"help:{type(under).__name__}", lambda: HelpScreen(under)))

    def action_open_findings(self) -> None:
        self.on_open_findings(OpenFindings())

    def action_open_migrate(self) -> None:
        self.push_screen(self.kept.get("migrate", MigrateScreen))

    def action_open_tour(self) -> None:
        self.push_screen(self.kept.get("tour", TourScreen))

    def action_open_journal(self) -> None:
        self.push_screen(self.kept.get("journal", JournalScreen))

    def action_open_walkthrough(self) -> None:
        self.push_screen(self.kept.get("walkthrough", WalkthroughScreen))

    def action_open_matrix(self) -> None:
        self.push_screen(self.kept.get("matrix", MatrixScreen))

    def action_open_connect(self) -> None:
        self.push_screen(self.kept.get("connect", ConnectScreen))

    def on_open_node(self, message: OpenNode) -> None:
        screen = self.kept.get("node", lambda: NodeScreen(message.name))  # one for every node
        screen.show_node(message.name)
        self.push_screen(screen)

    def on_open_drain(self, message: OpenDrain) -> None:
        screen = self.kept.get("drain", lambda: DrainScreen(message.node))
        screen.show_node(message.node)
        self.push_screen(screen)

    def on_open_findings(self, message: OpenFindings) -> None:
        screen = self.kept.get(f"findings:{message.node or ''}", lambda: FindingsScreen(message.node))
        screen.show_finding(message.focus)
        self.push_screen(screen)

    def on_open_migrate(self, message: OpenMigrate) -> None:
        self.push_screen(MigrateScreen(message.vm, message.destination))

    def on_open_fix(self, message: OpenFix) -> None:
        def closed(wrote: bool | None) -> None:
            if wrote:
                self.refresh_inventory()

        self.push_screen(FixScreen(message.findings), closed)

    def switch_session(self, session: Session) -> None:
        leaving = list(self.screen_stack)
        super().switch_session(session)
        self.kept.forget(leaving)  # their views were of the other cluster

    def on_cluster_changed(self, _: ClusterChanged) -> None:
        self.refresh_inventory()

    def on_session_opened(self, message: SessionOpened) -> None:
        self.switch_session(message.session)
        self.notify(f"now on {message.session.label}", title="Profile opened")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Refresh inventory", "Read the directory and every host again", self.action_refresh)
        yield SystemCommand("Findings", "Everything wrong, with evidence and fixes", self.action_open_findings)
        yield SystemCommand("Test Move-VM", "Pre-flight, live move with progress, verify", self.action_open_migrate)
        yield SystemCommand("Migration tour", "One test VM through every node and back, hop by hop",
                            self.action_open_tour)
        yield SystemCommand("Guided walkthrough", "The runbook step by step, on this cluster",
                            self.action_open_walkthrough)
        yield SystemCommand("Delegation matrix", "Source × destination: who may migrate to whom",
                            self.action_open_matrix)
        yield SystemCommand("Profiles", "Connect to a cluster: create, edit, switch profiles", self.action_open_connect)
        yield SystemCommand("Journal and rollback", "Every change lmdoctor made, and undo", self.action_open_journal)
        yield SystemCommand("Help", "Keys and what each screen shows", self.action_help)
        yield SystemCommand("Next theme", "Cycle the built-in themes (saved in console.toml)", self.action_cycle_theme)
        if self.snapshot:
            for node in self.snapshot.nodes:
                name = markup_literal(node.name)  # the palette reads its titles as markup
                yield SystemCommand(f"Node {name}", f"SPNs, delegation, events and findings of {name}",
                                    partial(self.post_message, OpenNode(node.name)))


def run_app(args: argparse.Namespace) -> int:
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
