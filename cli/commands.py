"""The headless command line: check, fix, migrate, tour, drain, rollback, credssp, report, lab.

Exit 0 ok, 1 problem found, 2 could not run (bad input, unreachable, read-only refusal)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType

from lmdoctor.services.backends.lab.scenarios import SCENARIOS
from lmdoctor.services.domain import drain, events, inputs
from lmdoctor.services.domain import tour as tour_domain
from lmdoctor.services.domain.diagnosis import bulk_fixable, diagnose, has_errors
from lmdoctor.services.domain.diagnosis.delegation import rbcd_alternative
from lmdoctor.services.domain.fixes import preview_lines
from lmdoctor.services.domain.models import ChangePreview, Finding, MoveProgress, Snapshot
from lmdoctor.services.domain.safetext import VisibleStream
from lmdoctor.services.domain.summary import check_document
from lmdoctor.services.operations import credssp, drain_preflight, readonly, report, tour
from lmdoctor.services.operations import lab_admin as manage
from lmdoctor.services.operations.inventory import take_snapshot
from lmdoctor.services.operations.migration import MoveRequest, preview, resolved, run_test_move
from lmdoctor.services.operations.session import Session, UsageError, open_settled_session
from lmdoctor.services.storage import credentials, error_log, tour_state
from lmdoctor.services.storage import move_log as moves
from lmdoctor.services.storage.files import atomic_write
from lmdoctor.services.storage.paths import default_lab_dir

EXIT_OK, EXIT_FOUND, EXIT_CANNOT = 0, 1, 2


def _target_options(defaults: bool) -> argparse.ArgumentParser:
    """The options every command takes, before or after its name.

    The sub-commands' copies have no defaults (SUPPRESS): argparse would otherwise overwrite an option
    given before the command (`lmdoctor --read-only fix …`) with the sub-command's default."""
    p = argparse.ArgumentParser(add_help=False, argument_default=None if defaults else argparse.SUPPRESS)
    p.add_argument("--demo", action="store_true", help="use the embedded lab (contoso.local)")
    p.add_argument("--profile", metavar="NAME", help="connection profile (see the README)")
    p.add_argument("--lab-dir", type=inputs.lab_dir, metavar="DIR", help=f"lab state directory (default {default_lab_dir()})")
    p.add_argument("--read-only", action="store_true", help="refuse every write")
    return p


def build_parser() -> argparse.ArgumentParser:
    common = _target_options(defaults=False)
    parser = argparse.ArgumentParser(prog="lmdoctor", parents=[_target_options(defaults=True)],
                                     description="Diagnose and fix Hyper-V live migration authentication.")
    sub = parser.add_subparsers(dest="command")
    c = sub.add_parser("check", parents=[common], help="inventory + diagnosis; exit 1 on an error finding")
    c.add_argument("--json", action="store_true")
    f = sub.add_parser("fix", parents=[common], help="preview and apply fixes")
    which = f.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true",
                       help="every finding that has a fix, except optional cleanups (removing values: use --finding)")
    which.add_argument("--finding", action="append", metavar="ID", type=inputs.finding_id,
                       help="a finding id from check (repeatable)")
    f.add_argument("--rbcd", action="store_true",
                   help="fix the chosen delegation.missing findings with resource-based delegation on the destination "
                        "(write access on the destination only) instead of values on the source")
    f.add_argument("--dry-run", action="store_true", help="preview only; write nothing")
    f.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    f.add_argument("--reason", type=inputs.reason, help="change ticket / reason, journaled with every write")
    f.add_argument("--json", action="store_true")
    m = sub.add_parser("migrate", parents=[common], help="test Move-VM: pre-flight, live, verify")
    m.add_argument("--vm", required=True, type=inputs.vm_name)
    m.add_argument("--to", required=True, metavar="HOST", type=inputs.host_name)
    m.add_argument("--from", dest="source", metavar="HOST", type=inputs.host_name,
                   help="source host (found automatically)")
    m.add_argument("--what-if", action="store_true", help="pre-flight only (read-only: no reason, no confirmation)")
    m.add_argument("--yes", action="store_true", help="do not ask for confirmation of the live move")
    m.add_argument("--reason", type=inputs.reason, help="change ticket / reason, logged with the move")
    m.add_argument("--json", action="store_true")
    t = sub.add_parser("tour", parents=[common],
                       help="move one test VM through every node and back, verifying each hop (writes: moves the VM)")
    start = t.add_mutually_exclusive_group(required=True)
    start.add_argument("--vm", type=inputs.vm_name, help="the test VM (it starts and ends on its current node)")
    start.add_argument("--resume", action="store_true", help="continue the saved unfinished tour from the VM's node")
    t.add_argument("--pairs", choices=("cycle", "all"), default="cycle",
                   help="cycle: every node once as source and destination (default); all: every ordered pair")
    t.add_argument("--keep-going", action="store_true", help="continue after a failed hop (from where the VM is)")
    t.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    t.add_argument("--reason", type=inputs.reason, help="change ticket / reason, logged with every hop")
    t.add_argument("--json", action="store_true")
    dr = sub.add_parser("drain", parents=[common], help="can a node's VMs be moved away now, and where to (read-only)")
    dr.add_argument("--node", required=True, metavar="HOST", type=inputs.host_name)
    dr.add_argument("--json", action="store_true")
    r = sub.add_parser("rollback", parents=[common], help="undo changes recorded in the journal")
    scope = r.add_mutually_exclusive_group(required=True)
    scope.add_argument("--last", action="store_true", help="the last fix run")
    scope.add_argument("--all", action="store_true", help="every change not yet rolled back")
    r.add_argument("--yes", action="store_true")
    r.add_argument("--reason", default="rollback", type=inputs.reason)
    cs = sub.add_parser("credssp", parents=[common], help="a time-boxed CredSSP window: status, open, revert")
    act = cs.add_mutually_exclusive_group()
    act.add_argument("--open", metavar="HOST", type=inputs.host_name, help="switch HOST to CredSSP for --minutes")
    act.add_argument("--revert", action="store_true", help="return to Kerberos now (every window, or --host)")
    cs.add_argument("--host", type=inputs.host_name, help="with --revert: only this host's window")
    cs.add_argument("--minutes", type=inputs.minutes, default=60, help="window length (default 60, at most 480)")
    cs.add_argument("--yes", action="store_true")
    cs.add_argument("--reason", type=inputs.reason)
    rp = sub.add_parser("report", parents=[common], help="export findings, changes and test moves for the change record")
    rp.add_argument("--format", choices=("md", "json"), default="md")
    rp.add_argument("--out", type=Path, metavar="FILE", help="write here (default: standard output)")
    rp.add_argument("--no-check", action="store_true", help="journal and moves only; do not read the cluster")
    j = sub.add_parser("journal", parents=[common], help="show the change journal")
    j.add_argument("--json", action="store_true")
    lab = sub.add_parser("lab", help="manage the embedded lab")
    lab_sub = lab.add_subparsers(dest="lab_command", required=True)
    reset = lab_sub.add_parser("reset", help="restore a scenario")
    reset.add_argument("--scenario", default="seed", choices=sorted(SCENARIOS))
    reset.add_argument("--lab-dir", type=inputs.lab_dir, metavar="DIR", default=argparse.SUPPRESS)
    reset.add_argument("--read-only", action="store_true", default=argparse.SUPPRESS,
                       help=argparse.SUPPRESS)  # accepted only to be refused clearly (cmd_lab)
    lab_sub.add_parser("scenarios", help="list scenarios")
    return parser


def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError("refusing to write without confirmation: no terminal to ask; pass --yes")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def _say(text: str) -> None:
    print(text, file=sys.stderr)


def _findings(session: Session) -> tuple[dict, list[Finding]]:
    snapshot = take_snapshot(session.directory, session.hosts, session.cluster, session.configured_nodes,
                             operator=session.operator)
    findings = diagnose(snapshot)
    return check_document(snapshot, findings), findings


def cmd_check(args: argparse.Namespace, session: Session) -> int:
    doc, findings = _findings(session)
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        for node in doc["nodes"]:
            print(f"{node['name']:<8} {node['state']:<7} migration={node['migration_enabled']} "
                  f"auth={node['auth_type']} perf={node['performance_option']} health={node['health']}")
        for f in findings:
            print(f"[{f.severity.value.upper():7}] {f.id}  {f.message}")
        print(f"{len(findings)} finding(s)")
        _credssp_status(session, quiet_when_none=True)
    return EXIT_FOUND if has_errors(findings) else EXIT_OK


def _with_rbcd(snapshot: Snapshot, chosen: list[Finding], by_id: bool) -> list[Finding]:
    """The chosen delegation.missing findings with their RBCD alternative as the fix."""
    if not by_id:
        raise UsageError("--rbcd needs --finding delegation.missing:SOURCE:DESTINATION (one pair at a time)")
    if any(f.code != "delegation.missing" for f in chosen):
        raise UsageError("--rbcd applies to delegation.missing findings only")
    plans = {f.id: rbcd_alternative(snapshot, f.source or "", f.target or "") for f in chosen}
    if missing := [i for i, plan in plans.items() if plan is None]:
        raise UsageError(f"no RBCD alternative for {', '.join(missing)}: the source's SID was not read")
    return [f.model_copy(update={"fix": plans[f.id]}) for f in chosen]


def cmd_fix(args: argparse.Namespace, session: Session) -> int:
    snapshot = take_snapshot(session.directory, session.hosts, session.cluster, session.configured_nodes)
    findings = diagnose(snapshot)
    left_alone = [f for f in findings if f.fix and f.fix.cleanup]
    if args.finding:
        known = {f.id: f for f in findings}
        unknown = [i for i in args.finding if i not in known]
        if unknown:
            raise UsageError(f"no current finding with id {', '.join(unknown)} (run check)")
        chosen = [known[i] for i in args.finding if known[i].fix]
    else:
        chosen = bulk_fixable(findings)
    if args.rbcd:
        chosen = _with_rbcd(snapshot, chosen, bool(args.finding))
    previews: list[ChangePreview] = []
    purge: list[str] = []
    plans = [(f, f.fix) for f in chosen if f.fix]
    for _, plan in plans:
        previews += session.remediator.preview(plan)
        purge += list(plan.purge_hosts)
    writes = [p for p in previews if not p.no_op]
    report = {"findings": [f.id for f in chosen], "changes": [p.model_dump(mode="json") for p in previews],
              "purge_hosts": sorted(set(purge)), "dry_run": args.dry_run,
              "left_alone": [f.id for f in left_alone if f not in chosen]}
    if not args.json:
        for _, plan in plans:
            if plan.cleanup:
                _say(f"optional cleanup, chosen by id: {plan.summary}")
        for f in left_alone:
            if f not in chosen and f.fix:
                _say(f"left alone: {f.fix.summary}; choose it with --finding {f.id}")
        _say(f"{len(chosen)} finding(s) to fix, {len(writes)} write(s), then klist purge on {', '.join(sorted(set(purge))) or 'no host'}:")
        for p in previews:
            _say(format_preview(p))
    if args.dry_run or not (writes or purge):
        if args.json:
            print(json.dumps(report, indent=2))
        elif not chosen:
            _say("nothing to fix")
        return EXIT_OK
    if session.read_only:
        raise readonly.refusal("to write")
    if (reason := _approved(f"Apply {len(writes)} change(s)?", args.reason, args.yes, "nothing written")) is None:
        return EXIT_FOUND
    outcome = session.remediator.apply(previews, reason, purge, notify=None if args.json else _say)
    report.update(batch=outcome.batch, applied=len(outcome.applied), failed=[e.error for e in outcome.failed],
                  in_doubt=[e.error for e in outcome.in_doubt], stopped=outcome.error,
                  purged=outcome.purged, purge_unconfirmed=outcome.unconfirmed, messages=outcome.messages)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _say(f"applied {len(outcome.applied)} change(s) in batch {outcome.batch}; "
             f"{'all read back OK' if outcome.ok else 'FAILED: ' + str(outcome.problem)}")
    return EXIT_OK if outcome.ok else EXIT_FOUND


def cmd_migrate(args: argparse.Namespace, session: Session) -> int:
    request = MoveRequest(vm=args.vm, destination=args.to, source=args.source, what_if_only=args.what_if)
    candidates = [n.name for n in session.hosts.cluster_nodes()] or list(session.configured_nodes)

    def progress(p: MoveProgress) -> None:
        if not args.json:
            _say(f"  {p.percent:3d}%  {p.status}")

    reason = args.reason
    if not args.what_if:
        if session.read_only:
            raise readonly.refusal(readonly.LIVE_MOVE)
        request = resolved(session.hosts, request, candidates)
        for line in preview(request):
            _say(line)
        if (reason := _approved(f"Move {request.vm} to {request.destination} now?", args.reason, args.yes,
                                "nothing moved")) is None:
            return EXIT_FOUND
    result = run_test_move(session.hosts, request, candidates, progress=progress, step=None if args.json else _say)
    moves.record(session.journal, result, reason=reason)
    if args.json:
        print(json.dumps(result.model_dump(mode="json"), indent=2))
    elif result.ok:
        print(f"OK: {result.vm} {'could move' if result.what_if else 'moved'} {result.source} → {result.destination}"
              + ("" if result.what_if else f" and is verified there ({result.duration_s:.1f} s)"))
    else:
        _say(f"FAILED: {result.error}")
        _say(f"Likely cause: {events.describe(result.cause)}")
    return EXIT_OK if result.ok else EXIT_FOUND


def _ask_reason(given: str | None) -> str:
    """The reason for a write: given, or asked on the terminal; without a terminal, a clear refusal."""
    if given:
        return given
    if not sys.stdin.isatty():
        raise UsageError("a reason is required for every write: pass --reason 'CHG-1234 …'")
    return inputs.reason(input("Reason / change ticket: "))


def _approved(question: str, reason: str | None, yes: bool, untouched: str) -> str | None:
    """The reason for a previewed write (given, or asked) once the operator confirms; None (said) when declined.

    Without a terminal a missing reason or a missing --yes is a clear refusal (UsageError, exit 2)."""
    reason = _ask_reason(reason)
    if not _confirm(question, yes):
        _say(f"cancelled; {untouched}")
        return None
    return reason


def cmd_tour(args: argparse.Namespace, session: Session) -> int:
    if session.read_only:
        raise readonly.refusal(readonly.LIVE_MOVE)
    nodes = [n.name for n in session.hosts.cluster_nodes()] or list(session.configured_nodes)
    if args.resume:
        state = tour.saved(session.journal)
        _say(f"Resuming tour {state.id} of {state.vm} ({state.mode}, reason: {state.reason}): "
             f"{len(state.remaining)} of {len(state.hops)} hop(s) left")
    else:
        if (unfinished := tour_state.unfinished(session.journal)) is not None:
            _say(f"note: the unfinished tour {unfinished.id} of {unfinished.vm} ({len(unfinished.remaining)} hop(s) "
                 "left) is replaced by this one; its hops stay in the move log")
        state = tour.start(session.hosts, args.vm, nodes, args.pairs, args.keep_going, args.reason or "")
        _say(f"Tour of {state.vm} from {state.start} ({state.mode}, {len(state.hops)} live move(s), "
             f"{'continue after a failure' if state.keep_going else 'stop at the first failure'}):")
    for index, hop in state.pending:
        _say(f"  {index + 1:>3}. {hop.source} → {hop.destination}")
    given = state.reason if args.resume else args.reason
    if (reason := _approved(f"Move {state.vm} {len(state.remaining)} time(s)?", given, args.yes, "nothing moved")) is None:
        return EXIT_FOUND
    state = state.model_copy(update={"reason": reason})
    stop = threading.Event()
    outcome = _run_tour(session, state, nodes, stop, quiet=args.json)
    if args.json:
        print(json.dumps({**outcome.state.model_dump(mode="json"), "location": outcome.location, "ok": outcome.ok,
                          "rows": [dict(zip(tour_domain.COLUMNS, r, strict=True))
                                   for r in tour_domain.rows(outcome.state)]}, indent=2))
    else:
        print(format_tour(outcome))
    if outcome.ok:
        return EXIT_OK
    return EXIT_FOUND if outcome.state.failures else EXIT_CANNOT


def _run_tour(session: Session, state: tour_domain.TourState, nodes: list[str], stop: threading.Event, quiet: bool) -> tour.TourOutcome:
    """Run with hop lines on stderr; the first Ctrl-C stops after the current hop, a second interrupts at once."""
    def show(event: tour.TourEvent) -> None:
        if quiet:
            return
        if isinstance(event, tour.HopStarted):
            _say(f"hop {event.index + 1}/{event.total}: {event.hop.source} → {event.hop.destination} …")
        elif isinstance(event, tour.HopFinished):
            row = tour_domain.hop_row(event.result)
            _say(f"hop {row[0]}: {row[3]} in {row[4]}")

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        _say("stopping after the current hop (Ctrl-C again to interrupt now; resume with `lmdoctor tour --resume`)")
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, interrupt) if threading.current_thread() is threading.main_thread() else None
    try:
        return tour.run(session.hosts, session.journal, state, nodes, listener=show, stop=stop)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def format_tour(outcome: tour.TourOutcome) -> str:
    """The per-hop table, each failure's exact error, where the VM is and what to do next."""
    state = outcome.state
    table = [tour_domain.COLUMNS, *tour_domain.rows(state)]
    widths = [max(len(r[i]) for r in table) for i in range(len(tour_domain.COLUMNS))]
    lines = [f"Tour {state.id} of {state.vm} ({state.mode}, {len(state.hops)} hops, reason: {state.reason})"]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in table]
    for r in (r for r in state.results if not r.passed):
        error = (r.move.error or "no error text").replace("\n", "\n  ")
        then = " (passed when resumed)" if state.retried(r) else ""
        lines.append(f"hop {r.index + 1} {r.move.source} → {r.move.destination} failed{then}: {error}")
        if r.move.cause:
            lines.append(f"  likely cause: {events.describe(r.move.cause)}")
    lines.append(f"{state.vm} is on {outcome.location}." if outcome.location
                 else f"{state.vm} was not found on any node that answered.")
    if state.unfinished:
        how = "stopped" if state.status == "stopped" else "stopped at the failed hop"
        lines.append(f"Tour {how}: {len(state.remaining)} hop(s) left"
                     + (", the failed one first" if state.status == "failed" else "")
                     + "; resume with `lmdoctor tour --resume`.")
    else:
        lines.append(f"Tour complete: {state.passed} of {len(state.hops)} hop(s) passed.")
    return "\n".join(lines)


def cmd_drain(args: argparse.Namespace, session: Session) -> int:
    snapshot = take_snapshot(session.directory, session.hosts, session.cluster, session.configured_nodes)
    findings = diagnose(snapshot)
    preflight = drain_preflight.collect(session.hosts, snapshot, args.node, findings)
    plan = drain.plan(snapshot, args.node, preflight.answers, findings)
    print(json.dumps(plan.to_json(), indent=2) if args.json else drain.describe(plan))
    return EXIT_CANNOT if not plan.checked else EXIT_OK if plan.drainable else EXIT_FOUND


def cmd_rollback(args: argparse.Namespace, session: Session) -> int:
    remediator = session.remediator
    if session.read_only:
        raise readonly.refusal("to roll back")
    entries = remediator.last_batch() if args.last else remediator.undoable()
    if not entries:
        _say("nothing to roll back")
        return EXIT_OK
    for e in sorted(entries, key=lambda e: e.seq, reverse=True):
        _say(f"- undo #{e.seq} {e.action.description} (batch {e.batch}, reason: {e.reason})")
    if not _confirm(f"Roll back {len(entries)} change(s)?", args.yes):
        _say("cancelled; nothing written")
        return EXIT_FOUND
    outcome = remediator.rollback(entries, args.reason, notify=_say)
    _say(f"rolled back {len(outcome.applied)} change(s)" + ("" if outcome.ok else f"; FAILED: {outcome.problem}"))
    return EXIT_OK if outcome.ok else EXIT_FOUND


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _credssp_status(session: Session, quiet_when_none: bool = False) -> list[credssp.Window]:
    open_windows = credssp.windows(session.remediator)
    for w in open_windows:
        _say(w.describe(_now()))
    if open_windows:
        _say("warning: " + credssp.CREDENTIAL_GUARD_WARNING)
    elif not quiet_when_none:
        _say("no CredSSP window is open")
    return open_windows


def cmd_credssp(args: argparse.Namespace, session: Session) -> int:
    if not args.open and not args.revert:
        _credssp_status(session)
        return EXIT_OK
    if session.read_only:
        raise readonly.refusal("to change the migration authentication type")
    if args.open:
        _say(f"- Set {args.open}'s live-migration authentication to CredSSP for {args.minutes} min, then back to Kerberos")
        _say("warning: " + credssp.CREDENTIAL_GUARD_WARNING)
    else:
        chosen = [w for w in credssp.windows(session.remediator) if args.host in (None, w.host)]
        if not chosen:
            _say("no CredSSP window to revert" + (f" on {args.host}" if args.host else ""))
            return EXIT_OK
        for w in chosen:
            _say(f"- Return {w.host} to {w.entry.before[0]} ({w.describe(_now())})")
    if not args.reason:
        raise UsageError("a reason is required for every write: pass --reason 'CHG-1234 …'")
    if not _confirm("Apply?", args.yes):
        _say("cancelled; nothing written")
        return EXIT_FOUND
    if args.open:
        outcome = credssp.open_window(session.remediator, args.open, args.minutes, args.reason, _now(), notify=_say)
    else:
        outcome = credssp.revert(session.remediator, chosen, args.reason, notify=_say)
    if outcome.ok:
        _credssp_status(session)
    else:
        _say(f"FAILED: {outcome.problem}")
    return EXIT_OK if outcome.ok else EXIT_FOUND


def cmd_report(args: argparse.Namespace, session: Session) -> int:
    snapshot_doc = None if args.no_check else _findings(session)[0]
    text = report.render(report.build(session.remediator, session.label, snapshot_doc, _now()), args.format)
    if args.out:
        atomic_write(args.out, text)
        _say(f"report written to {args.out}")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_journal(args: argparse.Namespace, session: Session) -> int:
    entries = session.journal.entries()
    if args.json:
        print(json.dumps([e.model_dump(mode="json") for e in entries], indent=2))
    else:
        for e in entries:
            print(f"#{e.seq:<4} {e.time:%Y-%m-%d %H:%M:%S} {e.state:<11} {e.batch} {e.action.description}"
                  + (f" — {e.error}" if e.error else ""))
    return EXIT_OK


def cmd_lab(args: argparse.Namespace) -> int:
    if args.lab_command == "scenarios":
        for name, (_, text) in SCENARIOS.items():
            print(f"{name:<20} {text}")
        return EXIT_OK
    if args.read_only:
        raise readonly.refusal("to reset the lab (a reset replaces it and deletes its journal)")
    root = args.lab_dir or default_lab_dir()
    manage.reset(root, args.scenario)
    print(f"lab reset to scenario '{args.scenario}' in {root}")
    return EXIT_OK


COMMANDS: dict[str, Callable] = {"check": cmd_check, "drain": cmd_drain, "fix": cmd_fix, "migrate": cmd_migrate,
                                 "tour": cmd_tour,
                                 "rollback": cmd_rollback, "journal": cmd_journal, "credssp": cmd_credssp,
                                 "report": cmd_report}


@contextmanager
def visible_output() -> Iterator[None]:
    """Everything a command prints — a VM name, an event message, a delegation value — reaches the terminal as
    text: control characters are shown (lmdoctor.services.domain.safetext.visible), never acted on."""
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = VisibleStream(out), VisibleStream(err)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err


def main(argv: Sequence[str] | None = None, tui: Callable[[argparse.Namespace], int] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    with visible_output() if args.command is not None else nullcontext():  # the console draws its own screen
        try:
            if args.command is None:
                if tui is None:
                    parser.print_help()
                    return EXIT_CANNOT
                return tui(args)
            if args.command == "lab":
                return cmd_lab(args)
            session = open_settled_session(args, credentials.ask_on_terminal, _say)
            try:
                return COMMANDS[args.command](args, session)
            finally:
                session.close()
        except Exception as exc:  # an expected error in its own words; a defect logged with its traceback
            print(f"lmdoctor: {error_log.describe(exc)}", file=sys.stderr)
            return error_log.exit_code(exc)
        except KeyboardInterrupt:
            print("lmdoctor: interrupted", file=sys.stderr)
            return EXIT_CANNOT


PREVIEW_PREFIX = {"change": "- ", "detail": "    ", "add": "    + ", "remove": "    - ", "command": "    "}


def format_preview(p: ChangePreview) -> str:
    """A previewed change as the CLI prints it."""
    return "\n".join(PREVIEW_PREFIX[line.kind] + line.text for line in preview_lines(p))
