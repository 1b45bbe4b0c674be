"""The guided walkthrough: the runbook's steps, each checked on the session's cluster, resumable per cluster."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from lmdoctor.services.backends.hosts.base import ProgressCallback
from lmdoctor.services.domain import events, fixes, matrix
from lmdoctor.services.domain.diagnosis import bulk_fixable
from lmdoctor.services.domain.diagnosis.hosts import ticket_relevant_change
from lmdoctor.services.domain.lines import Line, check, fail, info, ok, warn
from lmdoctor.services.domain.models import (
    UAC_TRUSTED_FOR_DELEGATION,
    UAC_TRUSTED_TO_AUTH_FOR_DELEGATION,
    VSMS,
    AuthType,
    Finding,
    JournalEntry,
    MoveResult,
    NodeSnapshot,
    Severity,
    Snapshot,
)
from lmdoctor.services.domain.spn import registered_form, spn_key
from lmdoctor.services.domain.value_diff import diff
from lmdoctor.services.operations import credssp
from lmdoctor.services.operations.lab_admin import WALKTHROUGH_FILE
from lmdoctor.services.operations.migration import MoveRequest, run_test_move
from lmdoctor.services.operations.remediation import Outcome
from lmdoctor.services.operations.session import Session
from lmdoctor.services.storage import move_log as moves
from lmdoctor.services.storage.files import atomic_write
from lmdoctor.services.storage.paths import data_dir

STATE_FILE = WALKTHROUGH_FILE
MAX_PREFLIGHTS = 4
CREDSSP_MINUTES = 60


class Step(StrEnum):
    SYMPTOM = "symptom"
    ENVIRONMENT = "environment"
    TRIAGE = "triage"
    DIAGNOSIS = "diagnosis"
    FIX = "fix"
    CREDSSP = "credssp"
    VERIFY = "verify"
    ROLLBACK = "rollback"
    PREVENTION = "prevention"


STEPS: tuple[Step, ...] = tuple(Step)
TITLES = {
    Step.SYMPTOM: "Symptom", Step.ENVIRONMENT: "Environment", Step.TRIAGE: "Triage", Step.DIAGNOSIS: "Diagnosis",
    Step.FIX: "Fix", Step.CREDSSP: "Alternative: CredSSP window", Step.VERIFY: "Verify", Step.ROLLBACK: "Rollback",
    Step.PREVENTION: "Prevention",
}
PURPOSE = {
    Step.SYMPTOM: "Reproduce the failure: a test Move-VM pre-flight (-WhatIf) started remotely, as from this jump host.",
    Step.ENVIRONMENT: "Read every node's live-migration settings (Get-VMHost) and cluster state.",
    Step.TRIAGE: "The manual triage for the test pair: delegation on the source, the destination's SPNs, DNS, events.",
    Step.DIAGNOSIS: "Every rule over the whole cluster: what is wrong, and why the move fails.",
    Step.FIX: "Apply the fixes: previewed, confirmed with a reason, journaled, read back; then klist purge.",
    Step.CREDSSP: "Optional: CredSSP for a short, controlled window instead of delegation.",
    Step.VERIFY: "Run the test Move-VM for real and check with Get-VM that the VM is on the destination.",
    Step.ROLLBACK: "If delegation changes are blocked or must be backed out: undo from the journal.",
    Step.PREVENTION: "One host build and delegation template for all nodes: compare them all.",
}
StepStatus = Literal["ok", "problem", "manual", "optional", "pending"]


@dataclass
class StepResult:
    """What one step found, in plain words, and whether the walkthrough may move on."""

    step: Step
    met: bool
    status: StepStatus
    headline: str
    found: list[Line] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    fixable: list[Finding] = field(default_factory=list)  # what `f` previews on this step


class TestMove(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vm: str
    source: str
    destination: str


class WalkthroughState(BaseModel):
    """Progress only: step outcomes, the chosen test move and its results. Never a secret."""

    model_config = ConfigDict(extra="forbid")
    scenario: str | None = None
    current: Step = Step.SYMPTOM
    outcomes: dict[Step, Literal["done", "skipped"]] = {}
    finished: bool = False
    test_move: TestMove | None = None
    symptom: MoveResult | None = None
    verify: MoveResult | None = None
    prior_auth: dict[str, str] = {}
    journal_start: int = 0
    credssp_hosts: list[str] = []


def state_path(session: Session) -> Path:
    """In the lab directory for the demo; per cluster in the data directory for a real cluster."""
    if session.lab_dir is not None:
        return Path(session.lab_dir) / STATE_FILE
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", session.cluster) or "cluster"
    return data_dir() / "walkthrough" / f"{safe}.json"


class StateStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> WalkthroughState | None:
        try:
            return WalkthroughState.model_validate_json(self.path.read_text(encoding="utf-8"))
        except (OSError, ValidationError, ValueError):
            return None  # missing or unreadable: start over

    def save(self, state: WalkthroughState) -> None:
        atomic_write(self.path, state.model_dump_json(indent=1))


def _settings_line(node: NodeSnapshot) -> str:
    host = node.host
    if host is None or not host.reachable or host.settings is None:
        return f"{node.name}: did not answer ({host.error if host else 'not read'})"
    s = host.settings
    networks = "any network" if s.use_any_network else ", ".join(s.migration_networks) or "no network"
    return (f"{node.name}: {node.cluster_state} · migration {'enabled' if s.migration_enabled else 'DISABLED'} · "
            f"{s.auth_type.value} · {s.performance_option.value} · max {s.max_migrations} · {networks}")


def _last_line(text: str | None) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "(no error text)"


def _node_list(snapshot: Snapshot) -> str:
    return ",".join(n.name for n in snapshot.nodes)


def undo_command(entry: JournalEntry) -> str:
    """What an admin would type to undo one journaled change by hand."""
    a = entry.action
    name = a.target.split(",")[0].removeprefix("CN=") if a.kind.startswith("directory.") else a.target
    if a.attribute == "userAccountControl":
        old, new = int(entry.before[0]), int(entry.after[0])
        flags = {UAC_TRUSTED_TO_AUTH_FOR_DELEGATION: "TrustedToAuthForDelegation",
                 UAC_TRUSTED_FOR_DELEGATION: "TrustedForDelegation"}
        parts = [f"-{flag} ${'true' if old & bit else 'false'}" for bit, flag in flags.items() if (old ^ new) & bit]
        return f"Set-ADAccountControl -Identity '{name}$' " + " ".join(parts)
    if a.kind.startswith("directory."):
        change = diff(entry.before, entry.after)
        ops = ([f"-Remove @{{'{a.attribute}'=@({fixes.ps_list(change.added)})}}"] if change.added else []) + \
              ([f"-Add @{{'{a.attribute}'=@({fixes.ps_list(change.removed)})}}"] if change.removed else [])
        return f"Set-ADComputer -Identity '{name}' " + " ".join(ops)
    if a.kind == "host.set_auth_type":
        return f"Set-VMHost -ComputerName {name} -VirtualMachineMigrationAuthenticationType {entry.before[0]}"
    if a.kind == "host.enable_migration":
        return f"{'Enable' if entry.before[0] == 'True' else 'Disable'}-VMMigration -ComputerName {name}"
    return f"# undo #{entry.seq} from the journal"


class Walkthrough:
    """The runbook over one session. Checks read the snapshot; Symptom and Verify also ask the hosts."""

    def __init__(self, session: Session, store: StateStore | None = None) -> None:
        self.session = session
        self.store = store or StateStore(state_path(session))
        state = self.store.load()
        if state is None or (session.demo and state.scenario != session.scenario):
            state = self._fresh()
        self.state = state

    def _fresh(self) -> WalkthroughState:
        return WalkthroughState(scenario=self.session.scenario, journal_start=len(self.session.journal.entries()))

    def save(self) -> None:
        self.store.save(self.state)

    # --- navigation -------------------------------------------------------------------------
    @property
    def current(self) -> Step:
        return self.state.current

    @property
    def index(self) -> int:
        return STEPS.index(self.state.current)

    def advance(self, result: StepResult) -> bool:
        """Move on when the current step's condition holds; False (and no move) otherwise."""
        if result.step != self.current or not result.met:
            return False
        self.state.outcomes[self.current] = "done"
        self._next()
        return True

    def skip(self) -> None:
        """Move on without the condition holding: the user chose to (the UI confirms first)."""
        self.state.outcomes[self.current] = "skipped"
        self._next()

    def back(self) -> None:
        self.state.finished = False
        if self.index > 0:
            self.state.current = STEPS[self.index - 1]
        self.save()

    def restart(self) -> None:
        self.state = self._fresh()
        self.save()

    def _next(self) -> None:
        if self.index + 1 < len(STEPS):
            self.state.current = STEPS[self.index + 1]
        else:
            self.state.finished = True
        self.save()

    # --- checks -----------------------------------------------------------------------------
    def check(self, snapshot: Snapshot, findings: list[Finding]) -> StepResult:
        """Run the current step's checks on this snapshot (Symptom also runs a Move-VM -WhatIf)."""
        handler: Callable[[Snapshot, list[Finding]], StepResult] = getattr(self, f"_check_{self.current.value}")
        return handler(snapshot, findings)

    def _pair(self, snapshot: Snapshot) -> tuple[NodeSnapshot, NodeSnapshot] | None:
        tm = self.state.test_move
        if tm is None:
            return None
        src, dst = snapshot.node(tm.source), snapshot.node(tm.destination)
        return (src, dst) if src and dst else None

    def _candidates(self, snapshot: Snapshot, findings: list[Finding]) -> list[tuple[str, str, str]]:
        """(vm, source, destination), the pairs the findings point at first."""
        exact = {(f.source, f.target) for f in findings}
        named = {n for f in findings for n in (f.source, f.target) if n}
        up = [(n, n.host) for n in snapshot.nodes if n.host and n.host.reachable]
        ranked = []
        for i, (src, report) in enumerate(up):
            if not report.vms:
                continue
            for j, (dst, _) in enumerate(up):
                if dst is src:
                    continue
                rank = 0 if (src.name, dst.name) in exact else 1 if dst.name in named else 2 if src.name in named else 3
                ranked.append((rank, i, j, report.vms[0].name, src.name, dst.name))
        return [(vm, s, d) for *_, vm, s, d in sorted(ranked)]

    def _preflight(self, vm: str, source: str, destination: str) -> MoveResult:
        return run_test_move(self.session.hosts, MoveRequest(vm=vm, destination=destination, source=source,
                                                             what_if_only=True), [])

    def _vm_host(self, snapshot: Snapshot, vm: str) -> str | None:
        return next((n.name for n in snapshot.nodes if n.host for v in n.host.vms if v.name.lower() == vm.lower()),
                    None)

    def _check_symptom(self, snapshot: Snapshot, findings: list[Finding]) -> StepResult:
        tm = self.state.test_move
        if tm is not None and self._vm_host(snapshot, tm.vm) not in (tm.source, tm.destination):
            tm = None  # the VM is gone or elsewhere: choose again
        if tm is None:
            result = None
            for vm, src, dst in self._candidates(snapshot, findings)[:MAX_PREFLIGHTS]:
                attempt = self._preflight(vm, src, dst)
                if result is None or not attempt.ok:
                    tm, result = TestMove(vm=vm, source=src, destination=dst), attempt
                if not attempt.ok:
                    break
            if tm is None:
                return StepResult(Step.SYMPTOM, False, "problem", "No test move possible: no reachable node has a VM "
                                  "and a reachable peer.", commands=["Get-ClusterNode", "Get-VM -ComputerName "
                                                                     + _node_list(snapshot)])
            self.state.test_move, self.state.symptom = tm, result
        elif self._vm_host(snapshot, tm.vm) == tm.source:
            self.state.symptom = self._preflight(tm.vm, tm.source, tm.destination)
        self.save()
        found = [info(f"Test move: {tm.vm} on {tm.source} → {tm.destination}, started remotely (WinRM) as from "
                      "this jump host.")]
        symptom = self.state.symptom
        if self._vm_host(snapshot, tm.vm) == tm.destination:
            found.append(ok(f"{tm.vm} is now on {tm.destination}: it was moved by the Verify step."))
        if symptom is not None and not symptom.ok:
            found += [fail(f"The pre-flight fails: {_last_line(symptom.error)}"),
                      info(f"Likely cause: {events.describe(symptom.cause)}")]
            headline = f"Reproduced: {tm.vm} cannot move {tm.source} → {tm.destination}."
            status: StepStatus = "problem"
        else:
            found.append(ok("The pre-flight passes: no failure reproduced on this pair."))
            headline = f"Not reproduced: {tm.vm} could move {tm.source} → {tm.destination}."
            status = "ok"
        recent = [(n.name, e) for n in snapshot.nodes if n.host for e in n.host.events
                  if e.level == "Error" and e.cause]
        for name, e in sorted(recent, key=lambda x: x[1].time, reverse=True)[:3]:
            found.append(info(f"{name} event {e.event_id} at {e.time:%Y-%m-%d %H:%M} UTC: "
                              f"{_last_line(e.message)[:120]}"))
        return StepResult(Step.SYMPTOM, True, status, headline, found, [
            f"Move-VM -Name {tm.vm} -ComputerName {tm.source} -DestinationHost {tm.destination} -WhatIf",
            f"Get-WinEvent -ComputerName {tm.source} -LogName 'Microsoft-Windows-Hyper-V-VMMS-Admin' -MaxEvents 60",
        ])

    def _check_environment(self, snapshot: Snapshot, findings: list[Finding]) -> StepResult:
        found = [info(_settings_line(n)) for n in snapshot.nodes]
        reporting = {n.name: n.host.settings for n in snapshot.nodes if n.host and n.host.reachable and n.host.settings}
        if not self.state.prior_auth:
            self.state.prior_auth = {name: s.auth_type.value for name, s in reporting.items()}
            self.save()
        auth = {s.auth_type.value for s in reporting.values()}
        disabled = [name for name, s in reporting.items() if not s.migration_enabled]
        if len(auth) > 1:
            found.append(fail("The nodes disagree on the authentication type: source and destination must match."))
        elif auth:
            found.append(ok(f"All answering nodes use {auth.pop()}."))
        if disabled:
            found.append(fail(f"Live migration is disabled on {', '.join(disabled)}."))
        if snapshot.directory_error:
            found.append(fail(f"The directory could not be read: {snapshot.directory_error}"))
        silent = [n.name for n in snapshot.nodes if n.name not in reporting]
        met = not silent and not snapshot.directory_error
        headline = (f"{len(reporting)} of {len(snapshot.nodes)} nodes answered" +
                    ("" if met else f"; {', '.join(silent) or 'the directory'} could not be read."))
        status: StepStatus = "problem" if (not met or disabled or len({s.auth_type for s in reporting.values()}) > 1) else "ok"
        return StepResult(Step.ENVIRONMENT, met, status, headline, found, [
            f"Get-ClusterNode -Cluster {snapshot.cluster}",
            f"Get-VMHost -ComputerName {_node_list(snapshot)} | Select ComputerName,VirtualMachineMigrationEnabled,"
            "VirtualMachineMigrationAuthenticationType,VirtualMachineMigrationPerformanceOption,"
            "MaximumVirtualMachineMigrations,UseAnyNetworkForMigration",
            f"Get-VMMigrationNetwork -ComputerName {_node_list(snapshot)}",
        ])

    def _check_triage(self, snapshot: Snapshot, findings: list[Finding]) -> StepResult:
        pair = self._pair(snapshot)
        if pair is None:
            return StepResult(Step.TRIAGE, False, "pending", "No test pair yet: go back to Symptom (b).")
        src, dst = pair
        status = matrix.statuses(snapshot, [(src.name, dst.name)])[(src.name, dst.name)]  # with VMs on SMB shares
        found = matrix.evidence(snapshot, status)
        problems = not status.ok
        for spn in (f"{VSMS}/{dst.fqdn}", f"cifs/{dst.fqdn}"):
            owners = snapshot.spn_owners.get(spn_key(registered_form(spn)), ())
            if len(owners) > 1:
                problems = True
                found.append(fail(f"{registered_form(spn)} is held by {', '.join(owners)} (duplicate SPN)"))
            elif owners:
                found.append(ok(f"{registered_form(spn)} is registered once, on {owners[0]}"))
            else:
                problems = True
                found.append(fail(f"nobody holds {registered_form(spn)}"))
        addresses = set(dst.host.addresses) if dst.host and dst.host.reachable else set()
        for record in dst.dns:
            good = not addresses or record.address in addresses
            problems |= not good
            found.append(check(good, f"DNS {dst.name} A {record.address}"
                               + ("" if good else f" is not an address of {dst.name} (stale record)")))
        if (stale := ticket_relevant_change(snapshot, src)) and src.host:  # a change is found only with a host report
            problems = True
            account, change = stale
            found.append(fail(f"{src.name}'s SYSTEM tickets ({src.host.tickets_issued:%H:%M} UTC) predate the "
                              f"change of {account}$ {change.attribute} ({change.changed:%H:%M} UTC): "
                              "klist purge -li 0x3e7"))
        failures = [e for e in (src.host.events if src.host else ()) if e.level == "Error" and e.cause]
        if failures:
            found.append(info(f"{len(failures)} recent error event(s) on {src.name}; newest: "
                              f"{events.describe(failures[0].cause)}"))
        headline = (f"{src.name} → {dst.name}: " + ("something is wrong on this path." if problems
                                                     else "delegation, SPNs and DNS look right."))
        return StepResult(Step.TRIAGE, True, "problem" if problems else "ok", headline, found, [
            f"Get-ADComputer {src.name} -Properties msDS-AllowedToDelegateTo,userAccountControl",
            f"Get-ADComputer {dst.name} -Properties msDS-AllowedToDelegateTo",
            f"setspn -L {src.name}", f"setspn -L {dst.name}",
            f"setspn -Q '{VSMS}/{dst.fqdn}'", f"setspn -Q 'HOST/{dst.fqdn}'",
            "setspn -X  (the forest-wide duplicate scan; slow on large forests)",
            f"Resolve-DnsName {dst.fqdn} -Type A",
            f"Get-WinEvent -ComputerName {src.name} -LogName 'Microsoft-Windows-Hyper-V-VMMS-Admin' -MaxEvents 60",
            f"Invoke-Command -ComputerName {src.name} {{ klist.exe -li 0x3e7 }}",
        ])

    def _check_diagnosis(self, snapshot: Snapshot, findings: list[Finding]) -> StepResult:
        errors = [f for f in findings if f.severity == Severity.ERROR]
        tm = self.state.test_move
        found: list[Line] = []
        if tm is not None:
            on_path = [f for f in findings if {f.source, f.target} & {tm.source, tm.destination}]
            if on_path:
                found.append(info(f"On the test path {tm.source} → {tm.destination}: {on_path[0].message}"))
                found.append(info(f"Why: {on_path[0].cause}"))
        found += [info(f"[{f.severity.value}] {f.message}") for f in findings]
        if not findings:
            found.append(ok("No rule found anything wrong: every node may migrate to every other node."))
        headline = (f"{len(errors)} error(s), {len(findings) - len(errors)} warning(s)/note(s)." if findings
                    else "Nothing wrong.")
        return StepResult(Step.DIAGNOSIS, True, "problem" if errors else "ok", headline, found,
                          ["lmdoctor check --json"])

    def _check_fix(self, snapshot: Snapshot, findings: list[Finding]) -> StepResult:
        fixable = bulk_fixable(findings)
        plans = [(f, f.fix) for f in fixable if f.fix]
        manual = [f for f in findings if not f.fix and f.severity == Severity.ERROR]
        commands = [a.powershell for _, plan in plans for a in plan.actions]
        commands += [fixes.purge_tickets_command(h) for h in dict.fromkeys(h for _, plan in plans for h in plan.purge_hosts)]
        found = [info(f"• {f.message} → {plan.summary}") for f, plan in plans]
        for f in manual:
            found += [fail(f.message), info(f"  by hand: {f.remedy or 'see the finding'}")]
            commands += [c.strip() for c in (f.remedy or "").split(":", 1)[-1].split(";") if c.strip()]
        made = self.changes()
        if made:
            found.append(ok(f"{len(made)} change(s) applied in this walkthrough (journal, j)."))
        if fixable:
            headline = (f"{len(fixable)} fix(es) to apply: f previews them." if not self.session.read_only
                        else "Read-only session: lmdoctor will not write; apply these by hand or reopen without "
                             "--read-only.")
            return StepResult(Step.FIX, False, "problem", headline, found, commands, fixable)
        if manual:
            return StepResult(Step.FIX, False, "manual", "lmdoctor does not change this automatically: do it by "
                              "hand, then ctrl+r to check again (or s to skip).", found, commands)
        found.append(ok("Nothing left to fix automatically."))
        return StepResult(Step.FIX, True, "ok", "Nothing left to fix.", found, commands)

    def credssp_hosts(self, snapshot: Snapshot) -> list[str]:
        """The test pair's hosts a CredSSP window would switch (those not on CredSSP already)."""
        pair = self._pair(snapshot)
        return [n.name for n in pair or () if n.host and n.host.settings
                and n.host.settings.auth_type != AuthType.CREDSSP]

    def open_credssp(self, snapshot: Snapshot, reason: str, now: datetime, minutes: int = CREDSSP_MINUTES,
                     notify: Callable[[str], None] | None = None) -> list[Outcome]:
        """Open a time-boxed, journaled CredSSP window on the test pair (lmdoctor.services.operations.credssp reverts it)."""
        hosts = self.credssp_hosts(snapshot)
        self.state.credssp_hosts = sorted(set(self.state.credssp_hosts) | set(hosts))
        self.save()
        return [credssp.open_window(self.session.remediator, h, minutes, reason, now, notify) for h in hosts]

    def close_credssp(self, reason: str, notify: Callable[[str], None] | None = None) -> Outcome | None:
        """Return every open window's host to its prior authentication type (journaled rollback)."""
        windows = credssp.windows(self.session.remediator)
        return credssp.revert(self.session.remediator, windows, reason, notify) if windows else None

    def _open_credssp(self, snapshot: Snapshot) -> list[str]:
        """Hosts on CredSSP through a window (lmdoctor's or this walkthrough's)."""
        hosts = {w.host for w in credssp.windows(self.session.remediator)} | set(self.state.credssp_hosts)
        return sorted(h for h in hosts if (n := snapshot.node(h)) and n.host and n.host.settings
                      and n.host.settings.auth_type == AuthType.CREDSSP)

    def _check_credssp(self, snapshot: Snapshot, findings: list[Finding]) -> StepResult:
        pair = self._pair(snapshot)
        names = [n.name for n in pair] if pair else ["SOURCE", "DESTINATION"]
        vm = self.state.test_move.vm if self.state.test_move else "VM"
        found = [info(text) for text in (
            "Optional. Kerberos with constrained delegation is the fix; CredSSP is a stop-gap for one window.",
            "CredSSP works only when Move-VM runs in a session ON the source host (console or RDP), never from a "
            "jump host over WinRM — lmdoctor's own test move would fail with 0x8009030E.",
            "Credential Guard blocks CredSSP; Windows Server 2025 enables it by default.",
            f"o opens a {CREDSSP_MINUTES}-minute window on the test pair (confirmed with a reason, journaled, "
            "reverted to Kerberos when it expires); k closes it early in Rollback.",
        )]
        open_now = self._open_credssp(snapshot)
        if open_now:
            found.append(warn(f"A CredSSP window is open on {', '.join(open_now)}."))
        return StepResult(Step.CREDSSP, True, "optional", "Optional: skip unless you choose a CredSSP window.", found, [
            *(f"lmdoctor credssp --open {h} --minutes {CREDSSP_MINUTES} --reason 'CHG-…'" for h in names),
            f"Set-VMHost -ComputerName {','.join(names)} -VirtualMachineMigrationAuthenticationType CredSSP",
            f"# on {names[0]} itself: Move-VM -Name {vm} -DestinationHost {names[1]}",
            f"Set-VMHost -ComputerName {','.join(names)} -VirtualMachineMigrationAuthenticationType Kerberos",
            "(Get-CimInstance -Namespace root\\Microsoft\\Windows\\DeviceGuard -ClassName Win32_DeviceGuard)"
            ".SecurityServicesRunning  # 1 = Credential Guard running",
        ])

    def verify_request(self, snapshot: Snapshot) -> MoveRequest:
        """The live test move the Verify step runs (from where the VM is now), for `migration.preview`."""
        tm = self.state.test_move
        if tm is None:
            raise ValueError("no test move chosen: run the Symptom step first")
        return MoveRequest(vm=tm.vm, destination=tm.destination, source=self._vm_host(snapshot, tm.vm) or tm.source)

    def verified_already(self, snapshot: Snapshot) -> bool:
        """The VM is on the destination and the earlier test move there passed: nothing to move."""
        request = self.verify_request(snapshot)
        return request.source == request.destination and self.state.verify is not None and self.state.verify.ok

    def run_verify(self, snapshot: Snapshot, reason: str, progress: ProgressCallback | None = None,
                   step: Callable[[str], None] | None = None) -> MoveResult:
        """The real test move (pre-flight, Move-VM with progress, Get-VM on the destination); recorded with the
        operator's reason."""
        request = self.verify_request(snapshot)
        if self.verified_already(snapshot) and self.state.verify is not None:
            if step:
                step(f"{request.vm} is already on {request.destination}: verified earlier")
            return self.state.verify
        result = run_test_move(self.session.hosts, request, [n.name for n in snapshot.nodes], progress=progress,
                               step=step)
        self.state.verify = result
        self.save()
        moves.record(self.session.journal, result, reason=reason)
        return result

    def _check_verify(self, snapshot: Snapshot, findings: list[Finding]) -> StepResult:
        tm = self.state.test_move
        if tm is None:
            return StepResult(Step.VERIFY, False, "pending", "No test move chosen: go back to Symptom (b).")
        commands = [f"Move-VM -Name {tm.vm} -ComputerName {tm.source} -DestinationHost {tm.destination}",
                    f"Get-VM -ComputerName {tm.destination} -Name {tm.vm}"]
        result = self.state.verify
        if result is None:
            headline = (f"g previews Move-VM {tm.vm} {tm.source} → {tm.destination}, asks for a reason, runs it and "
                        "checks it with Get-VM."
                        if not self.session.read_only else
                        "Read-only session: lmdoctor will not run the live move; run it by hand or reopen without "
                        "--read-only.")
            return StepResult(Step.VERIFY, False, "pending", headline,
                              [info(f"Errors left: {sum(f.severity == Severity.ERROR for f in findings)}")], commands)
        if result.ok and result.verified:
            return StepResult(Step.VERIFY, True, "ok", f"✔ {tm.vm} moved {result.source} → {result.destination} with no "
                              "credential prompt and Get-VM finds it there.",
                              [info(f"Move took {result.duration_s:.1f} s.")], commands)
        found = [fail(_last_line(result.error)), info(f"Likely cause: {events.describe(result.cause)}")]
        found += [info(f"Still wrong: {f.message}" + ("" if f.fix else f" — by hand: {f.remedy}"))
                  for f in findings if f.severity == Severity.ERROR]
        open_now = self._open_credssp(snapshot)
        if open_now:
            found.append(info(f"A CredSSP window is open on {', '.join(open_now)}: a remotely started move cannot "
                              f"use it; run Move-VM in a session on {tm.source}."))
        return StepResult(Step.VERIFY, False, "problem", "The test move failed: fix (b to go back) and g to retry.",
                          found, commands)

    def changes(self) -> list[JournalEntry]:
        """Journal entries this walkthrough made that can still be undone."""
        return [e for e in self.session.remediator.undoable() if e.seq > self.state.journal_start]

    def _check_rollback(self, snapshot: Snapshot, findings: list[Finding]) -> StepResult:
        made = self.changes()
        found = [info(f"#{e.seq} {e.action.description} (reason: {e.reason})") for e in made]
        if not made:
            found.append(info("No change of this walkthrough to undo."))
        prior = self.state.prior_auth
        drifted = [(n.name, n.host.settings.auth_type.value) for n in snapshot.nodes
                   if n.host and n.host.settings and n.name in prior and n.host.settings.auth_type.value != prior[n.name]]
        for name, now in drifted:
            found.append(info(f"{name} was on {prior[name]} when the walkthrough started; now {now}."))
        open_now = self._open_credssp(snapshot)
        commands = ["lmdoctor rollback --last --reason 'CHG-… back out'"]
        commands += ["lmdoctor credssp --revert --reason 'CHG-… close the window'"] if open_now else []
        commands += [f"Set-VMHost -ComputerName {h} -VirtualMachineMigrationAuthenticationType Kerberos" for h in open_now]
        commands += [undo_command(e) for e in sorted(made, key=lambda e: e.seq, reverse=True)]
        if open_now:
            return StepResult(Step.ROLLBACK, False, "problem", f"The CredSSP window on {', '.join(open_now)} is still "
                              "open: k closes it (back to Kerberos).", found, commands)
        return StepResult(Step.ROLLBACK, True, "ok", "Only if needed: u opens the journal (undo the last batch or "
                          "everything).", found, commands)

    def _check_prevention(self, snapshot: Snapshot, findings: list[Finding]) -> StepResult:
        reporting = {n.name: n.host.settings for n in snapshot.nodes if n.host and n.host.reachable and n.host.settings}
        found: list[Line] = []
        drift = False
        for label, get in (("authentication", lambda s: s.auth_type.value),
                           ("performance option", lambda s: s.performance_option.value),
                           ("migration enabled", lambda s: str(s.migration_enabled)),
                           ("simultaneous migrations", lambda s: str(s.max_migrations))):
            values = {name: get(settings) for name, settings in reporting.items()}
            if len(set(values.values())) > 1:
                drift = True
                found.append(fail(f"{label} differs: " + ", ".join(f"{k}={v}" for k, v in values.items())))
            elif values:
                found.append(ok(f"{label}: {next(iter(values.values()))} on every node"))
        broken = [s for s in matrix.matrix(snapshot).values() if not s.ok]
        found.append(ok(f"all {len(snapshot.nodes) * (len(snapshot.nodes) - 1)} ordered pairs may delegate")
                     if not broken else fail(f"{len(broken)} pair(s) lack the delegation template: "
                     + ", ".join(f"{s.source}→{s.destination}" for s in broken[:6]) + ("…" if len(broken) > 6 else "")))
        errors = [f for f in findings if f.severity == Severity.ERROR]
        found += [fail(f.message) for f in errors]
        cleanup = [f for f in findings if f.fix and f.severity != Severity.ERROR]
        found += [warn(f"recommended: {f.message} (f previews: {f.fix.summary})") for f in cleanup if f.fix]
        met = not drift and not broken and not errors
        headline = ("Every node follows one build and one delegation template." if met
                    else "The nodes do not follow one template yet.")
        return StepResult(Step.PREVENTION, met, "ok" if met else "problem", headline, found, [
            f"Get-VMHost -ComputerName {_node_list(snapshot)} | Select ComputerName,"
            "VirtualMachineMigrationAuthenticationType,VirtualMachineMigrationPerformanceOption",
            f"'{_node_list(snapshot).replace(',', chr(39) + ',' + chr(39))}' | % {{ Get-ADComputer $_ -Properties "
            "msDS-AllowedToDelegateTo,userAccountControl }",
            "lmdoctor check --json  # schedule it: exit 1 as soon as a node drifts",
        ], cleanup)
