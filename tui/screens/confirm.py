"""A confirmation dialog that asks for a reason: the answer is the reason, or None."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input

from lmdoctor.services.domain import inputs
from lmdoctor.tui.keymap import key_hint
from lmdoctor.tui.screens.restyle import RestyleWhenStale
from lmdoctor.tui.widgets.plain import Plain, PlainLabel


def reason_fields(placeholder: str = "Reason / change ticket (required)") -> tuple[Input, Plain]:
    """The reason input and, under it, the place its error shows."""
    return Input(placeholder=placeholder, id="reason"), Plain("", id="reason-error", classes="field-error")


def checked_reason(screen: Screen) -> str | None:
    """The reason typed on `screen`, checked by the CLI's own rule (lmdoctor.services.domain.inputs.reason).

    None when it is refused: the error then shows under the field and the field has the focus."""
    field, error = screen.query_one("#reason", Input), screen.query_one("#reason-error", Plain)
    try:
        reason = inputs.reason(field.value, "reason")
    except inputs.InputError as exc:
        error.update(Text(str(exc), style="bold red"))
        error.display = True
        field.focus()
        return None
    error.display = False
    return reason


class ReasonDialog(RestyleWhenStale[str | None], ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="reason.cancel")]

    def __init__(self, title: str, body: str, action_label: str) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.action_label = action_label

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield PlainLabel(self.title_text, classes="dialog-title")
            with VerticalScroll(classes="preview"):
                yield Plain(self.body)
            yield from reason_fields()
            with Horizontal(classes="buttons"):
                yield Button(self.action_label, id="ok", variant="error")
                yield Button(f"Cancel ({key_hint(self, 'reason.cancel')})", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    def _submit(self) -> None:
        reason = checked_reason(self)
        if reason is not None:
            self.dismiss(reason)

    def on_input_submitted(self, _: Input.Submitted) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
