"""What every lmdoctor screen shares: header, DEMO banner, status line, footer, Esc to go back."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.widgets import Header

from lmdoctor.tui.keymap import key_of
from lmdoctor.tui.screens.restyle import RestyleWhenStale
from lmdoctor.tui.text import Part, assemble
from lmdoctor.tui.widgets.keys_bar import KeysBar
from lmdoctor.tui.widgets.plain import Plain

if TYPE_CHECKING:
    from lmdoctor.tui.console import Console


class BaseScreen(RestyleWhenStale[None]):
    if TYPE_CHECKING:
        app: Console  # the running lmdoctor console, typed for the checker; Textual supplies it

    BINDINGS = [Binding("escape", "back", "Back", id="screen.back")]
    _render_on_resume: Callable[[], object] | None = None  # an inventory read this screen has not shown yet

    def compose_top(self) -> ComposeResult:
        yield Header()
        if self.app.session.demo:
            yield Plain(f" DEMO · simulated contoso.local lab (scenario '{self.app.session.scenario}') — "
                        "changes affect only the lab ", classes="demo-banner")
        yield Plain("", classes="status-line")

    def compose_bottom(self) -> ComposeResult:
        yield KeysBar()

    def on_mount(self) -> None:
        """(Textual runs this as well as a screen's own on_mount: every class's handler is called.)"""
        self.watch(self.app, "progress", self.show_progress)  # a read under way shows on a screen opened during it

    def follow_inventory(self, render: Callable[[], object]) -> None:
        """Run `render` now and after every inventory read (app.inventory), queued on this screen like a
        message handler: a DataTable measures its columns on its next idle, and rows added from the app's own
        loop could be painted before that, with the header's widths, and stay so. A screen that is not shown
        (kept for the next visit, or under another one) renders when it is shown again, once."""
        render()
        self.watch(self.app, "inventory", lambda: self.render_when_shown(render), init=False)

    def render_when_shown(self, render: Callable[[], object]) -> None:
        """`render` queued now if this screen is shown, else once when it is shown again."""
        if self.is_current:
            self.call_later(render)
        else:
            self._render_on_resume = render

    def on_screen_resume(self) -> None:
        render, self._render_on_resume = self._render_on_resume, None
        if render is not None:
            render()

    def set_status(self, *parts: Part) -> None:
        """The status line: lmdoctor's words and values, each shown as text (lmdoctor.tui.text.assemble)."""
        # one line high (styles/app.tcss) and as wide as the screen: new text never changes its size, so no layout
        self.query_one(".status-line", Plain).update(assemble(*parts), layout=False)

    def as_of_text(self) -> Content:
        inventory = self.app.inventory
        if inventory.error:
            return assemble(("inventory failed:", "b red"), " ", inventory.error)
        if inventory.as_of is None:
            return assemble("reading the directory and the hosts…")
        errors = sum(1 for f in inventory.findings if f.severity == "error")
        return assemble(f"as of {inventory.as_of:%H:%M:%S} UTC · {len(inventory.findings)} finding(s), "
                        f"{errors} error(s) · ", (f"{key_of(self, 'app.refresh')} refresh", "dim"))

    def show_progress(self, message: str) -> None:
        """The inventory read under way, on the status line until the screen shows the new inventory."""
        if message:
            self.set_status(message)

    def action_back(self) -> None:
        self.dismiss()
