"""Read-only mode on the CLI: every write command refuses with exit 2 and a clear line; reads still work."""

from __future__ import annotations

import pytest

from lmdoctor.services.backends.directory.base import Directory
from lmdoctor.services.backends.hosts.base import HostGateway
from lmdoctor.services.domain import fixes
from lmdoctor.services.domain.models import ComputerAccount, FixPlan
from lmdoctor.services.operations.readonly import ReadOnlyDirectory, ReadOnlyHosts
from lmdoctor.services.operations.session import open_demo
from tests.support.cli_lab import Lab
from tests.support.files import files_under


@pytest.fixture
def fixed_lab(lab: Lab) -> Lab:
    """The seed lab with every fix applied."""
    assert lab.run("fix", "--all", "--yes", "--reason", "CHG-1").returncode == 0
    return lab


@pytest.mark.parametrize("argv, says", [
    (["rollback", "--all", "--yes", "--reason", "back out"], "read-only: refusing to roll back"),
    (["rollback", "--last", "--yes"], "read-only: refusing to roll back"),
    (["credssp", "--open", "HV03", "--reason", "CHG-3", "--yes"], "read-only"),
    (["credssp", "--revert", "--reason", "CHG-3", "--yes"], "read-only"),
    (["migrate", "--vm", "APP01", "--to", "HV02", "--yes", "--reason", "CHG-1"], "read-only: refusing a live move"),
])
def test_write_commands_refuse_with_exit_2(fixed_lab, argv, says):
    before = files_under(fixed_lab.root)
    r = fixed_lab.run(*argv, "--read-only")
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("lmdoctor: ") and says in r.stderr and r.stderr.count("\n") == 1
    assert files_under(fixed_lab.root) == before


@pytest.mark.parametrize("argv, code", [
    (["check"], 0), (["journal"], 0), (["credssp"], 0), (["fix", "--all", "--dry-run"], 0),
    (["migrate", "--vm", "APP01", "--to", "HV02", "--what-if"], 0), (["report", "--no-check"], 0),
])
def test_read_commands_still_work(fixed_lab, argv, code):
    before = files_under(fixed_lab.root)
    r = fixed_lab.run(*argv, "--read-only")
    assert r.returncode == code, r.stderr
    assert {k: v for k, v in files_under(fixed_lab.root).items() if not k.endswith(".moves.jsonl")} == \
        {k: v for k, v in before.items() if not k.endswith(".moves.jsonl")}


def test_read_only_run_reports_in_doubt_changes_without_settling_them(fixed_lab):
    session = open_demo(fixed_lab.root, step_delay=0)
    plan = FixPlan(summary="t", actions=(fixes.add_delegation(
        ComputerAccount(name="HV03", dn="CN=HV03,CN=Computers,DC=contoso,DC=local"), ["cifs/FS09.contoso.local"], "FS09"),))
    (preview,) = session.remediator.preview(plan)
    session.journal.record(batch="b", change_id="c", state="intent", preview=preview, reason="CHG-9")
    session.close()
    before = files_under(fixed_lab.root)
    r = fixed_lab.run("check", "--read-only")
    assert "1 change(s) in doubt (#3); run without --read-only to settle them" in r.stderr
    assert files_under(fixed_lab.root) == before
    r = fixed_lab.run("check")
    assert "settled interrupted change #3 as failed (read back: did not land)" in r.stderr


@pytest.mark.parametrize("wrapper,protocol", [(ReadOnlyDirectory, Directory), (ReadOnlyHosts, HostGateway)])
def test_read_only_gateways_answer_every_call_of_their_protocol(wrapper, protocol) -> None:
    """A method the protocol gains must be forwarded (a read) or refused (a write), never missing."""
    wanted = {name for name in vars(protocol) if not name.startswith("_") and callable(getattr(protocol, name))}
    assert wanted - set(vars(wrapper)) == set()
