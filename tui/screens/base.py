"""What every lmdoctor screen shares: header, DEMO banner, status line, footer, Esc to go back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header

from lmdoctor.tui.text import Part, assemble
from lmdoctor.tui.widgets.plain import Plain

if TYPE_CHECKING:
    from lmdoctor.tui.app import LmDoctorApp


class BaseScreen(Screen[None]):
    if TYPE_CHECKING:
        app: LmDoctorApp  # the running lmdoctor console, typed for the checker; Textual supplies it

    BINDINGS = [Binding("escape", "back", "Back", id="screen.back")]

    def compose_top(self) -> ComposeResult:
        yield Header()
        if self.app.session.demo:
            yield Plain(f" DEMO · simulated contoso.local lab (scenario '{self.app.session.scenario}') — "
                        "changes affect only the lab ", classes="demo-banner")
        yield Plain("", classes="status-line")

    def compose_bottom(self) -> ComposeResult:
        yield Footer()

    def set_status(self, *parts: Part) -> None:
        """The status line: lmdoctor's words and values, each shown as text (lmdoctor.tui.text.assemble)."""
        self.query_one(".status-line", Plain).update(assemble(*parts))

    def as_of_text(self) -> Content:
        app = self.app
        if app.inventory_error:
            return assemble(("inventory failed:", "b red"), " ", app.inventory_error)
        if app.as_of is None:
            return assemble("reading the directory and the hosts…")
        errors = sum(1 for f in app.findings if f.severity == "error")
        return assemble(f"as of {app.as_of:%H:%M:%S} UTC · {len(app.findings)} finding(s), {errors} error(s) · ",
                        ("ctrl+r refresh", "dim"))

    def show_progress(self, message: str, done: int, total: int) -> None:
        self.set_status(f"{message}… ({done}/{total})")

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
