"""A session: the directory, host gateway and journal for the lab or for a profile."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from lmdoctor.services.backends.directory.base import Directory
from lmdoctor.services.backends.hosts.base import HostGateway
from lmdoctor.services.backends.lab.scenarios import ADMIN_USER, CLUSTER
from lmdoctor.services.domain.errors import LmdoctorError
from lmdoctor.services.operations import lab_admin as manage
from lmdoctor.services.operations import readonly, reconcile
from lmdoctor.services.operations.remediation import RemediationError, Remediator
from lmdoctor.services.storage import credentials, profiles
from lmdoctor.services.storage.journal import Journal
from lmdoctor.services.storage.paths import data_dir, default_lab_dir
from lmdoctor.services.storage.profiles import Profile


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
    from lmdoctor.services.backends.directory.connect import connect
    from lmdoctor.services.backends.hosts.psrp import PsrpHostGateway

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


class UsageError(LmdoctorError):
    """Bad usage or configuration: exit 2 with this one line."""


class SessionChoice(Protocol):
    """What a front end asks to open (the CLI's and the console's parsed options)."""

    demo: bool
    profile: str | None
    lab_dir: Path | None
    read_only: bool


def open_session(args: SessionChoice, prompt: PasswordPrompt | None) -> Session:
    """The session the front end chose: the lab (--demo / --lab-dir) or a profile's cluster."""
    if args.demo or args.profile is None:
        if args.profile is None and not args.demo and args.lab_dir is None:
            raise UsageError("choose --demo (embedded lab) or --profile NAME")
        return open_demo(args.lab_dir, read_only=args.read_only)
    try:
        profile = profiles.load(args.profile)
    except profiles.ProfileError as exc:
        raise UsageError(str(exc)) from None
    return open_profile(profile, read_only=args.read_only, prompt=prompt)


def open_settled_session(args: SessionChoice, prompt: PasswordPrompt | None,
                         say: Callable[[str], None]) -> Session:
    """open_session, then settle in-doubt changes and expired CredSSP windows before anything else runs."""
    session = open_session(args, prompt)
    try:
        reconcile.settle(session.remediator, datetime.now(timezone.utc), say)
    except RemediationError as exc:
        session.close()
        raise UsageError(f"cannot settle the journal before running: {exc}") from None
    except BaseException:
        session.close()
        raise
    return session
