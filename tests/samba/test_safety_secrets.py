"""The password never leaves the OS keyring: a whole CLI and console flow against the real Samba DC,
with the bind password only in the real Secret Service, then every file and every captured text is
searched for it."""

from __future__ import annotations

import base64
import logging
import os
import secrets
from pathlib import Path

import pytest

from lmdoctor.cli import commands as cli
from lmdoctor.services.backends.directory.base import DirectoryError
from lmdoctor.services.backends.directory.connect import connect
from lmdoctor.services.operations import lab_admin as manage
from lmdoctor.services.operations.session import open_session
from lmdoctor.services.storage import credentials, profiles
from lmdoctor.services.storage.profiles import Profile
from tests.samba.scenarios import NODES, UPN, populate, use_lab_hosts
from tests.support.files import files_under

pytestmark = [pytest.mark.samba, pytest.mark.keyring]

def encodings(password: str) -> list[bytes]:
    raw = password.encode()
    return [raw, password.encode("utf-16-le"), base64.b64encode(raw), raw.hex().encode()]


async def test_the_password_is_in_no_file_log_or_message(samba_dc_up, secret_service, isolated_dirs, tmp_path,
                                                          monkeypatch, capsys, caplog):
    dc = samba_dc_up
    password = "Lmd-Ops-" + secrets.token_urlsafe(12) + "-9z!"
    populate(dc, password)
    caplog.set_level(logging.DEBUG)
    lab_dir = tmp_path / "hosts"
    manage.reset(lab_dir, "seed")  # the simulated Hyper-V hosts; the directory is the real DC
    use_lab_hosts(lab_dir, monkeypatch)
    profile = Profile(name="samba", domain="contoso.local", dc=dc.ip, ca_file=dc.ca_file, bind_user=UPN,
                      cluster="HVCLUSTER", nodes=NODES, timeout_s=5)
    profiles.save(profile)
    credentials.set_password("samba", UPN, password)
    errors: list[str] = []
    out_dir = isolated_dirs["data"] / "exports"
    try:
        with dc.inside():
            p = ["--profile", "samba"]
            steps = [
                (["check", *p, "--json"], 1),
                (["fix", *p, "--all", "--yes", "--reason", "CHG-5150 KCD HV01→HV02"], 0),
                (["check", *p], 0),
                (["migrate", *p, "--vm", "APP01", "--to", "HV02", "--yes", "--reason", "CHG-1"], 0),
                (["credssp", *p, "--open", "HV04", "--minutes", "20", "--reason", "CHG-5151", "--yes"], 0),
                (["report", *p, "--format", "md", "--out", str(out_dir / "change.md")], 0),
                (["report", *p, "--format", "json", "--out", str(out_dir / "change.json")], 0),
                (["journal", *p, "--json"], 0),
                (["rollback", *p, "--all", "--yes", "--reason", "CHG-5150 back out"], 0),
            ]
            for argv, expected in steps:
                assert cli.main(argv) == expected, (argv, capsys.readouterr().err)
            assert "Allow HV01 to delegate to HV02's services" in (out_dir / "change.md").read_text(encoding="utf-8")
            try:
                connect(profile, "Wrong-" + secrets.token_hex(6))
            except DirectoryError as exc:
                errors.append(str(exc))
            session = open_session(cli.build_parser().parse_args(["--profile", "samba"]), None)
            from lmdoctor.tui.app import LmDoctorApp

            app = LmDoctorApp(session)
            async with app.run_test(size=(140, 40)) as pilot:
                while app.snapshot is None and app.inventory.error is None:
                    await pilot.pause(0.05)
                await pilot.pause()
                (out_dir / "console.svg").write_text(app.export_screenshot(), encoding="utf-8")
        dc.stop()
        with dc.inside():
            assert cli.main(["check", "--profile", "samba"]) == 2  # the DC is gone: one line, no secret
        dc.restart()
    finally:
        credentials.delete_password("samba", UPN)

    captured = capsys.readouterr()
    assert "cannot reach the domain controller" in captured.err
    assert "rejected the credentials" in errors[0]
    assert "HVCLUSTER" in (out_dir / "console.svg").read_text(encoding="utf-8")
    home = Path(os.environ["HOME"])
    canary = tmp_path / "canary.bin"  # proves the search finds a copy when there is one
    canary.write_bytes(b"x" + password.encode("utf-16-le") + b"y")
    written = files_under(home, isolated_dirs["data"], isolated_dirs["config"], tmp_path)
    names = set(written)
    assert any(n.endswith("journal/samba.jsonl") for n in names) and any(n.endswith("samba.toml") for n in names)
    assert any("/keyrings/" in n for n in names)  # the Secret Service's own (encrypted) store is searched too
    leaks = [(name, enc) for name, data in written.items() for enc in encodings(password) if enc in data]
    assert leaks == [(str(canary), password.encode("utf-16-le"))]
    texts = {"stdout": captured.out, "stderr": captured.err, "log": caplog.text, "errors": "\n".join(errors)}
    assert [k for k, text in texts.items() if any(e.decode("latin-1") in text for e in encodings(password))] == []
    assert len(captured.err) > 200
