"""RBCD as the alternative fix of a missing pair: a write on the destination only, previewed, journaled with
the prior descriptor, read back, and reversible. (Samba 4.17 lets only the system write
msDS-AllowedToActOnBehalfOfOtherIdentity, so this runs on the lab's directory; the decision it leads to is
Windows' rule, tests/test_coverage.py.)"""

from __future__ import annotations

import base64
import json

from lmdoctor.services.backends.lab.scenarios import sid_of
from lmdoctor.services.domain import rbcd
from lmdoctor.services.operations import lab_admin as manage
from tests.support.cli_lab import Lab

HV02 = "CN=HV02,CN=Computers,DC=contoso,DC=local"
PAIR = "delegation.missing:HV01:HV02"


def descriptor(lab: Lab) -> tuple[str, ...]:
    directory, _hosts, _journal = manage.open_lab(lab.root, step_delay=0)
    return directory.read_values(HV02, rbcd.ATTRIBUTE)


def test_rbcd_fix_is_previewed_journaled_read_back_and_rolled_back(tmp_path):
    lab = Lab(tmp_path / "lab")
    lab.reset("seed")
    r = lab.run("fix", "--finding", PAIR, "--rbcd", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert f"before → after: no descriptor → allows {sid_of('HV01')}" in r.stderr
    assert "directory.grant_rbcd on " + HV02 in r.stderr and descriptor(lab) == ()

    r = lab.run("fix", "--finding", PAIR, "--rbcd", "--yes", "--reason", "CHG-11")
    assert r.returncode == 0, r.stderr
    (value,) = descriptor(lab)
    assert rbcd.allowed_sids(base64.b64decode(value)) == (sid_of("HV01"),)
    code, doc = lab.check()
    assert PAIR not in {f["id"] for f in doc["findings"]}
    assert lab.run("migrate", "--vm", "APP01", "--to", "HV02", "--yes", "--reason", "CHG-11").returncode == 0

    entries = json.loads(lab.run("journal", "--json").stdout)
    applied = [e for e in entries if e["state"] == "applied"]
    assert applied[-1]["before"] == [] and applied[-1]["after"] == [value] and applied[-1]["read_back"] == [value]

    r = lab.run("rollback", "--last", "--yes", "--reason", "CHG-11 back out")
    assert r.returncode == 0, r.stderr
    assert descriptor(lab) == ()
    assert PAIR in {f["id"] for f in lab.check()[1]["findings"]}


def test_rbcd_fix_keeps_what_the_descriptor_already_allows(tmp_path):
    lab = Lab(tmp_path / "lab")
    lab.reset("rbcd")  # HV02's descriptor already allows HV01
    directory, _hosts, _journal = manage.open_lab(lab.root, step_delay=0)
    directory.remove_values("CN=HV03,CN=Computers,DC=contoso,DC=local", "msDS-AllowedToDelegateTo",
                            ["cifs/HV02", "cifs/HV02.contoso.local"])
    (prior,) = descriptor(lab)
    r = lab.run("fix", "--finding", "delegation.missing:HV03:HV02", "--rbcd", "--yes", "--reason", "CHG-12")
    assert r.returncode == 0, r.stderr
    (value,) = descriptor(lab)
    assert rbcd.allowed_sids(base64.b64decode(value)) == (sid_of("HV01"), sid_of("HV03"))
    assert lab.run("rollback", "--last", "--yes", "--reason", "back").returncode == 0
    assert descriptor(lab) == (prior,)


def test_rbcd_flag_needs_a_missing_pair_by_id(tmp_path):
    lab = Lab(tmp_path / "lab")
    lab.reset("seed")
    before = lab.files()
    r = lab.run("fix", "--all", "--rbcd", "--yes", "--reason", "CHG-1")
    assert r.returncode == 2 and "--rbcd needs --finding" in r.stderr
    r = lab.run("fix", "--finding", "delegation.wrong_object:HV02:HV02", "--rbcd", "--yes", "--reason", "CHG-1")
    assert r.returncode == 2 and "delegation.missing findings only" in r.stderr
    assert lab.files() == before


def test_with_allowed_appends_and_keeps_deny_aces():
    blob = rbcd.descriptor(["S-1-5-21-1-2-3-1105"], denied=["S-1-5-21-1-2-3-1200"])
    grown = rbcd.with_allowed(blob, "S-1-5-21-1-2-3-1106")
    assert rbcd.allowed_sids(grown) == ("S-1-5-21-1-2-3-1105", "S-1-5-21-1-2-3-1106")
    assert rbcd.denied_sids(grown) == ("S-1-5-21-1-2-3-1200",)
    assert rbcd.with_allowed(grown, "S-1-5-21-1-2-3-1106") == grown
