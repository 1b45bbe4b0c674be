"""Profiles: list, create and edit connection profiles, store passwords in the OS keyring, switch cluster."""

from __future__ import annotations

from pydantic import ValidationError
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Checkbox, DataTable, Input, Label, Select

from lmdoctor.services.operations.session import Session, open_profile
from lmdoctor.services.storage import credentials, profiles
from lmdoctor.services.storage.error_log import describe
from lmdoctor.services.storage.profiles import Profile
from lmdoctor.tui.keymap import key_hint
from lmdoctor.tui.messages import SessionOpened
from lmdoctor.tui.screens.base import BaseScreen
from lmdoctor.tui.text import assemble
from lmdoctor.tui.widgets.filter_table import FilterTable, Row
from lmdoctor.tui.widgets.plain import Plain

TEXT_FIELDS: list[tuple[str, str, str]] = [  # field, label, placeholder
    ("name", "Name", "prod"),
    ("domain", "Domain", "contoso.local"),
    ("dc", "Domain controller", "dc01.contoso.local"),
    ("ldap_port", "LDAP port", "636 for LDAPS, 389 for StartTLS"),
    ("ca_file", "CA file", "empty: the system trust store"),
    ("bind_user", "Bind user", "admin@contoso.local"),
    ("cluster", "Cluster", "HVCLUSTER"),
    ("nodes", "Nodes", "HV01, HV02 (empty: read from the cluster)"),
    ("winrm_port", "WinRM port", "5986 for HTTPS, 5985 for HTTP"),
    ("winrm_user", "WinRM user", "empty: the bind user"),
    ("winrm_ca_file", "WinRM CA file", "empty: the system trust store"),
    ("timeout_s", "Timeout (s)", "15"),
]
CHOICES: dict[str, tuple[str, tuple[str, ...]]] = {
    "ldap": ("Directory TLS", ("ldaps", "starttls")),
    "directory_auth": ("Directory auth", ("password", "kerberos")),
    "winrm_transport": ("WinRM transport", ("https", "http")),
    "winrm_auth": ("WinRM auth", ("negotiate", "kerberos", "basic", "credssp")),
}
ORDER = ["name", "domain", "dc", "ldap", "ldap_port", "ca_file", "bind_user", "directory_auth", "cluster", "nodes",
         "winrm_transport", "winrm_auth", "winrm_port", "winrm_user", "winrm_ca_file", "read_only", "timeout_s"]
LABELS = {f: label for f, label, _ in TEXT_FIELDS} | {f: label for f, (label, _) in CHOICES.items()}


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Each pydantic error under the form field it names ('' for errors about the whole profile)."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else ""
        message = err["msg"].removeprefix("Value error, ")
        errors[field if field in ORDER else ""] = message
    return errors


class ConnectScreen(BaseScreen):
    """Connection profiles: the clusters lmdoctor can open, and the one in use."""

    HELP = ("Connection profiles (TOML in the config dir, never a secret). Select a profile to load it into the "
            "form; ctrl+s validates and saves it, storing a typed password only in the OS keyring; ctrl+o opens "
            "the profile and switches the console to that cluster (in the background; errors are shown here). "
            "n starts a new profile.")
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="connect.save"),
        Binding("ctrl+o", "open_profile", "Connect", id="connect.open_profile"),
        Binding("ctrl+n", "new", "New", id="connect.new"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.connecting = False
        self.loaded: str | None = None  # the profile in the form

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        with Horizontal(classes="split"):
            yield FilterTable(("Profile", "Domain", "Cluster"), id="profiles")
            with VerticalScroll(classes="detail-pane", id="profile-form"):
                yield Plain("", id="err-", classes="field-error")
                for field in ORDER:
                    yield from self._field(field)
                yield Label("Password (bind user)")
                yield Input(password=True, id="password", placeholder="stored only in the OS keyring")
                yield Plain("", id="err-password", classes="field-error")
                yield Label("WinRM password (when the WinRM user differs)")
                yield Input(password=True, id="winrm_password", placeholder="stored only in the OS keyring")
                yield Plain("", id="err-winrm_password", classes="field-error")
        yield from self.compose_bottom()

    def _field(self, field: str) -> ComposeResult:
        if field == "read_only":
            yield Checkbox("Read-only (refuse every write)", id="read_only")
        elif field in CHOICES:
            label, options = CHOICES[field]
            yield Label(label)
            yield Select([(o, o) for o in options], value=options[0], allow_blank=False, id=field)
        else:
            placeholder = next(p for f, _, p in TEXT_FIELDS if f == field)
            yield Label(LABELS[field])
            yield Input(id=field, placeholder=placeholder)
        yield Plain("", id=f"err-{field}", classes="field-error")

    def on_mount(self) -> None:
        self.set_status("in use: ", (self.app.session.label, "b"), f" · {key_hint(self, 'connect.save')} save · {key_hint(self, 'connect.open_profile')} connect"
                        f" · {key_hint(self, 'connect.new')} new")
        self.query_one(FilterTable).table.focus()

    def on_screen_resume(self) -> None:
        self.render_profiles(self.query_one(FilterTable).selected_key)  # at every visit (kept): the CLI may have saved one

    def on_screen_suspend(self) -> None:
        """Leaving (the screen is kept for the next visit): a typed password does not stay in the form."""
        for field in ("password", "winrm_password"):
            self.query_one(f"#{field}", Input).value = ""

    def render_profiles(self, select: str | None = None) -> None:
        rows: list[Row] = []
        for name in profiles.list_names():
            try:
                p = profiles.load(name)
                rows.append((name, (name, p.domain, p.cluster)))
            except profiles.ProfileError as exc:
                rows.append((name, (name, Text("invalid", style="bold red"), Text(str(exc)[:60]))))
        table = self.query_one(FilterTable)
        table.set_rows(rows)
        if select and select in table.table.rows:
            table.table.move_cursor(row=table.table.get_row_index(select))

    # --- form ------------------------------------------------------------------------
    def fill(self, profile: Profile | None) -> None:
        self.loaded = profile.name if profile else None
        data = profile.model_dump(mode="json") if profile else {}
        for field in ORDER:
            value = data.get(field)
            if field == "read_only":
                self.query_one("#read_only", Checkbox).value = bool(value)
            elif field in CHOICES:
                self.query_one(f"#{field}", Select).value = value or CHOICES[field][1][0]
            else:
                text = ", ".join(value) if isinstance(value, list) else ("" if value is None else str(value))
                self.query_one(f"#{field}", Input).value = text
        for field in ("password", "winrm_password"):
            self.query_one(f"#{field}", Input).value = ""
        self.show_errors({})

    def form_data(self) -> dict[str, object]:
        data: dict[str, object] = {}
        for field in ORDER:
            if field == "read_only":
                data[field] = self.query_one("#read_only", Checkbox).value
            elif field in CHOICES:
                data[field] = self.query_one(f"#{field}", Select).value
            else:
                text = self.query_one(f"#{field}", Input).value.strip()
                if field == "nodes":
                    data[field] = [n.strip() for n in text.split(",") if n.strip()]
                elif text:
                    data[field] = text
        return data

    def show_errors(self, errors: dict[str, str]) -> None:
        for widget in self.query(".field-error").results(Plain):
            field = (widget.id or "").removeprefix("err-")
            widget.update(assemble((errors[field], "b red")) if field in errors else "")
            widget.display = field in errors

    def validate(self) -> Profile | None:
        try:
            profile = Profile.model_validate(self.form_data())
        except ValidationError as exc:
            errors = field_errors(exc)
            self.show_errors(errors)
            first = next((f for f in ORDER if f in errors), None)
            if first:
                self.query_one(f"#{first}").focus()
            return None
        self.show_errors({})
        return profile

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is None or event.row_key.value is None or event.row_key.value == self.loaded:
            return
        try:
            self.fill(profiles.load(event.row_key.value))
        except profiles.ProfileError as exc:
            self.fill(None)
            self.show_errors({"": str(exc)})

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.query_one("#name", Input).focus()

    # --- actions ---------------------------------------------------------------------
    def action_new(self) -> None:
        self.fill(None)
        self.query_one("#name", Input).focus()

    def action_save(self) -> None:
        profile = self.validate()
        if profile is None:
            self.set_status(("not saved:", "b red"), " fix the fields marked in red")
            return
        path = profiles.save(profile)
        self.loaded = profile.name
        stored = self.store_passwords(profile)
        self.render_profiles(select=profile.name)
        self.set_status(f"saved {path}" + (f" · {stored}" if stored else ""))

    def store_passwords(self, profile: Profile) -> str:
        """Typed passwords go to the OS keyring and nowhere else; the inputs are cleared either way."""
        done: list[str] = []
        errors: dict[str, str] = {}
        for field, user in (("password", profile.bind_user), ("winrm_password", profile.winrm_username)):
            box = self.query_one(f"#{field}", Input)
            secret, box.value = box.value, ""
            if not secret:
                continue
            try:
                credentials.set_password(profile.name, user, secret)
                done.append(f"password of {user} in the OS keyring")
            except credentials.CredentialsUnavailable as exc:
                errors[field] = f"not stored: {exc}"
        self.show_errors(errors)
        return ", ".join(done)

    def action_open_profile(self) -> None:
        if self.connecting:
            self.notify("Already connecting…")
            return
        profile = self.validate()
        if profile is None:
            return
        self.connecting = True
        self.set_status(f"connecting to {profile.dc} and the hosts of {profile.cluster}…")
        self.connect(profile)

    @work(thread=True, group="connect")  # one at a time (self.connecting); a session is never half-opened twice
    def connect(self, profile: Profile) -> None:
        try:
            session = open_profile(profile)
        except Exception as exc:  # DC or hosts unreachable, no password, bad certificate: shown, console stays
            self.app.call_from_thread(self._connect_failed, profile, describe(exc))
            return
        self.app.call_from_thread(self._connected, session)

    def _connect_failed(self, profile: Profile, error: str) -> None:
        self.connecting = False
        self.set_status((f"cannot open {profile.name}:", "b red"), " ", error)
        self.notify(error, title=f"Cannot open {profile.name}", severity="error", timeout=10)

    def _connected(self, session: Session) -> None:
        self.connecting = False
        self.post_message(SessionOpened(session))
