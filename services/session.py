"""A session: the directory, host gateway and journal for the lab or for a profile."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from services import credentials, readonly
from services.directory.base import Directory
from services.hosts.base import HostGateway
from services.journal import Journal
from services.lab import manage
from services.lab.scenarios import ADMIN_USER, CLUSTER
from services.paths import data_dir, default_lab_dir
from services.profiles import Profile
from services.remediation import Remediator


@dataclass
class Session:
    label: str
    demo: bool
    cluster: str
    directory: Directory
    hosts: HostGateway
    journal: Journal
    read_only: bool = False
    configured_nodes: tuple[str, ...] = ()
    lab_dir: Path | None = None
    scenario: str | None = None
    operator: tuple[str, str] | None = None  # (account that starts moves, where the name comes from)
    remediator: Remediator = field(init=False)

    def __post_init__(self) -> None:
        if self.read_only:  # every front end reaches AD and the hosts only through these: read-only is kept
            self.directory, self.hosts = readonly.guard(self.directory, self.hosts)
        self.remediator = Remediator(self.directory, self.hosts, self.journal, self.read_only)

    def close(self) -> None:
        self.directory.close()
        self.hosts.close()


def open_demo(lab_dir: Path | None = None, read_only: bool = False, step_delay: float = 0.15) -> Session:
    root = Path(lab_dir) if lab_dir else default_lab_dir()
    directory, hosts, journal = manage.open_lab(root, step_delay=step_delay)
    scenario = manage.LabStore(root).scenario()
    return Session(label=f"DEMO · contoso.local · lab scenario '{scenario}'", demo=True, cluster=CLUSTER,
                   directory=directory, hosts=hosts, journal=journal, read_only=read_only, lab_dir=root,
                   scenario=scenario,
                   operator=(manage.LabStore(root).load_hosts().operator or ADMIN_USER, "the lab's WinRM user"))


PasswordPrompt = Callable[[str], str | None]


def password_for(profile: Profile, user: str, prompt: PasswordPrompt | None) -> str | None:
    """Keyring first; with no usable keyring, say so and ask (per session, never stored in a file)."""
    return credentials.lookup(profile.name, user, prompt)


def open_profile(profile: Profile, read_only: bool = False, prompt: PasswordPrompt | None = None) -> Session:
    from services.directory.connect import connect
    from services.hosts.psrp import PsrpHostGateway

    ldap_password = None if profile.directory_auth == "kerberos" else password_for(profile, profile.bind_user, prompt)
    directory = connect(profile, ldap_password)
    winrm_password = password_for(profile, profile.winrm_username, prompt) if profile.winrm_auth != "kerberos" else None
    hosts = PsrpHostGateway.from_profile(profile, winrm_password)
    journal = Journal(data_dir() / "journal" / f"{profile.name}.jsonl")
    return Session(label=f"{profile.name} · {profile.domain} · {profile.cluster}", demo=False, cluster=profile.cluster,
                   directory=directory, hosts=hosts, journal=journal, read_only=read_only or profile.read_only,
                   configured_nodes=profile.nodes, operator=operator_of(profile))


def operator_of(profile: Profile) -> tuple[str, str] | None:
    """Who starts the moves: the profile's WinRM user, or with WinRM over Kerberos the ticket cache's user."""
    if profile.winrm_auth != "kerberos":
        return profile.winrm_username, f"the WinRM user of profile '{profile.name}'"
    user = ticket_user()
    return (user, "the user of the Kerberos ticket cache (WinRM over Kerberos)") if user else None


def ticket_user() -> str | None:
    """The principal of the default Kerberos ticket cache (KRB5CCNAME), or None without one or without gssapi."""
    try:
        import gssapi

        return str(gssapi.Credentials(usage="initiate").name)
    except Exception:  # no gssapi, no cache, expired ticket: the check is skipped, not guessed
        return None
