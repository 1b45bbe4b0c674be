"""Write safety against a real Samba AD DC: exact rollback, out-of-band changes, the DC dying
mid-batch, an unreachable DC, refused certificates, and LDAP filter metacharacters."""

from __future__ import annotations

import ipaddress
import secrets
import shutil
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from itertools import count
from pathlib import Path

import pytest

from lmdoctor.cli import commands as cli
from lmdoctor.services.backends.directory.base import DirectoryError
from lmdoctor.services.backends.directory.connect import connect
from lmdoctor.services.backends.directory.ldap import LdapDirectory
from lmdoctor.services.domain import fixes
from lmdoctor.services.domain.models import ClusterNode, ComputerAccount, FixPlan
from lmdoctor.services.domain.spn import SpnError, delegation_targets
from lmdoctor.services.operations import reconcile
from lmdoctor.services.operations.remediation import Remediator, RollbackConflict
from lmdoctor.services.storage import profiles
from lmdoctor.services.storage.journal import Journal
from lmdoctor.services.storage.profiles import Profile
from tests.samba.harness import ADMIN_PASSWORD, COMPUTERS_DN, SambaDC
from tests.samba.scenarios import use_lab_hosts

pytestmark = pytest.mark.samba

DELEGATE = "msDS-AllowedToDelegateTo"
_names = count(1)


class RecordingHosts:
    """Host side of these tests: there are no Hyper-V hosts, so record the ticket purges asked for."""

    def __init__(self) -> None:
        self.purged: list[str] = []
        self.nodes: list[str] = ["HV01", "HV02", "HV03", "HV04"]  # a test adds the hosts it made

    def cluster_nodes(self) -> list[ClusterNode]:
        """Rollback purges tickets only on cluster nodes."""
        return [ClusterNode(name=name, state="Up") for name in self.nodes]

    def purge_tickets(self, host: str) -> None:
        self.purged.append(host)

    def close(self) -> None:
        pass


def profile_for(dc: SambaDC, **changes) -> Profile:
    fields = dict(name="samba", domain="contoso.local", dc=dc.ip, ca_file=dc.ca_file,
                  bind_user="Administrator@contoso.local", cluster="HVCLUSTER", timeout_s=5)
    return Profile(**{**fields, **changes})


def open_directory(dc: SambaDC, **changes) -> LdapDirectory:
    with dc.inside():
        return connect(profile_for(dc, **changes), ADMIN_PASSWORD)


def computers(dc: SambaDC, *delegate_to: str) -> tuple[ComputerAccount, ComputerAccount]:
    """A fresh source/destination pair (unique names, so tests do not depend on each other)."""
    n = next(_names)
    src, dst = f"SAFE{n:02d}A", f"SAFE{n:02d}B"
    dc.add_computer(src, [f"HOST/{src}"], delegate_to=delegate_to)
    dc.add_computer(dst, [f"HOST/{dst}"])
    return (ComputerAccount(name=src, dn=f"CN={src},{COMPUTERS_DN}"),
            ComputerAccount(name=dst, dn=f"CN={dst},{COMPUTERS_DN}"))


def delegation(dc: SambaDC, account: ComputerAccount) -> set[str]:
    return set(dc.read(account.dn, [DELEGATE])[DELEGATE])


def uac(dc: SambaDC, account: ComputerAccount) -> int:
    return int(dc.read(account.dn, ["userAccountControl"])["userAccountControl"][0])


@pytest.fixture
def remediator(samba_dc_up: SambaDC, tmp_path: Path) -> Iterator[Remediator]:
    directory = open_directory(samba_dc_up)
    yield Remediator(directory, RecordingHosts(), Journal(tmp_path / "journal.jsonl"))
    directory.close()


def kcd_plan(src: ComputerAccount, dst: ComputerAccount) -> FixPlan:
    return FixPlan(summary="KCD", actions=(
        fixes.add_delegation(src, delegation_targets(dst.name, f"{dst.name}.contoso.local"), dst.name),
        fixes.enable_protocol_transition(src)), purge_hosts=(src.name,))


# --- rollback -------------------------------------------------------------------------------


def test_rollback_restores_exact_prior_values_and_keeps_values_lmdoctor_did_not_add(samba_dc_up, remediator):
    dc = samba_dc_up
    unrelated = {"cifs/FS01.contoso.local", "HOST/FS01"}
    src, dst = computers(dc, *unrelated)
    remediator.hosts.nodes += [src.name, dst.name]  # the two hosts are cluster nodes
    prior_uac = uac(dc, src)
    previews = remediator.preview(kcd_plan(src, dst))
    assert set(previews[0].before) == unrelated
    outcome = remediator.apply(previews, "CHG-42 KCD", purge_hosts=[src.name])
    assert outcome.ok and remediator.hosts.purged == [src.name]
    assert delegation(dc, src) == unrelated | set(delegation_targets(dst.name, f"{dst.name}.contoso.local"))
    assert uac(dc, src) == prior_uac | 0x1000000

    remediator.hosts.purged.clear()
    undo = remediator.rollback(remediator.undoable(), "CHG-42 back out")
    assert undo.ok and len(undo.applied) == 2
    assert delegation(dc, src) == unrelated  # only lmdoctor's values went
    assert uac(dc, src) == prior_uac
    assert remediator.hosts.purged == [src.name]  # klist purge follows on the affected host
    lines = remediator.journal.entries()
    assert [e.state for e in lines] == ["intent", "applied"] * 4
    assert {e.rollback_of for e in lines[4:]} == {e.change_id for e in outcome.applied}
    assert all(e.reason == "CHG-42 back out" for e in lines[4:])
    assert set(lines[-1].read_back) == unrelated or lines[-1].read_back == (str(prior_uac),)


def test_rollback_refuses_an_object_changed_out_of_band_and_writes_nothing(samba_dc_up, remediator):
    dc = samba_dc_up
    src, dst = computers(dc, "HOST/FS01")
    assert remediator.apply(remediator.preview(kcd_plan(src, dst)), "CHG-43").ok
    from ldap3 import MODIFY_ADD

    dc.modify(src.dn, {DELEGATE: [(MODIFY_ADD, ["cifs/SQL01.contoso.local"])]})  # someone else, since
    values, journal = delegation(dc, src), remediator.journal.path.read_bytes()
    with pytest.raises(RollbackConflict, match=f"CN={src.name},.*changed since lmdoctor wrote it"):
        remediator.rollback(remediator.undoable(), "undo")
    assert delegation(dc, src) == values and "cifs/SQL01.contoso.local" in values
    assert remediator.journal.path.read_bytes() == journal


# --- the DC dies mid-batch ------------------------------------------------------------------


@pytest.mark.parametrize("when", ["between-writes", "during-the-second-write"])
def test_dc_stopped_after_the_first_of_several_writes_loses_nothing_and_a_rerun_converges(samba_dc_up, tmp_path, when):
    dc = samba_dc_up
    src, dst = computers(dc, "HOST/FS01")
    journal = Journal(tmp_path / "journal.jsonl")
    plan = FixPlan(summary="KCD + SPNs", actions=(
        *kcd_plan(src, dst).actions, fixes.add_spns(dst, [f"WSMAN/{dst.name}", f"WSMAN/{dst.name}.contoso.local"])))
    directory = open_directory(dc)
    first = Remediator(directory, RecordingHosts(), journal)
    if when == "during-the-second-write":
        real_modify, sent = directory._modify, []

        def modify(dn, changes):
            sent.append(dn)
            if len(sent) == 2:
                dc.stop()  # the DC dies as the second modify goes out
            real_modify(dn, changes)

        directory._modify = modify

    def notify(line: str) -> None:
        if when == "between-writes" and line.startswith("read back OK") and dc.running:
            dc.stop()  # the DC goes down right after the first change was confirmed

    outcome = first.apply(first.preview(plan), "CHG-44", purge_hosts=[src.name], notify=notify)
    directory.close()
    assert not outcome.ok and len(outcome.applied) == 1
    assert "cannot reach the domain controller" in outcome.problem
    states = [(e.action.kind, e.state) for e in journal.entries()]
    assert states[:2] == [("directory.add_values", "intent"), ("directory.add_values", "applied")]
    if when == "between-writes":
        assert states[2:] == []  # the next change's fresh read failed: nothing was sent, nothing is in doubt
    else:
        assert states[2:] == [("directory.set_uac_bits", "intent"), ("directory.set_uac_bits", "in_doubt")]
    assert first.hosts.purged == [src.name]  # the change that landed still gets its klist purge

    dc.restart()
    directory = open_directory(dc)
    second = Remediator(directory, RecordingHosts(), journal)
    said: list[str] = []
    reconcile.settle(second, datetime.now(timezone.utc), said.append)
    if when == "between-writes":
        assert said == []
    else:
        assert said == [f"journal: settled interrupted change #3 as failed (read back: did not land): "
                        f"{plan.actions[1].description}"]
    assert journal.in_doubt() == []
    assert set(delegation_targets(dst.name, f"{dst.name}.contoso.local")) <= delegation(dc, src)  # landed, kept
    assert not uac(dc, src) & 0x1000000

    rerun = second.apply(second.preview(plan), "CHG-44 again", purge_hosts=[src.name])
    assert rerun.ok and [e.action.kind for e in rerun.applied] == ["directory.set_uac_bits", "directory.add_values"]
    assert uac(dc, src) & 0x1000000
    assert f"WSMAN/{dst.name}" in dc.read(dst.dn, ["servicePrincipalName"])["servicePrincipalName"]
    assert all(p.no_op for p in second.preview(plan))  # converged
    assert second.hosts.purged == [src.name]
    directory.close()


def test_dc_unreachable_at_start_is_exit_2_with_one_clear_line(samba_dc_up, isolated_dirs, capsys, monkeypatch):
    dc = samba_dc_up
    profiles.save(profile_for(dc))
    monkeypatch.setattr(cli.credentials, "ask_on_terminal", lambda _label: ADMIN_PASSWORD)
    dc.stop()
    try:
        with dc.inside():
            code = cli.main(["check", "--profile", "samba"])
    finally:
        dc.restart()
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"lmdoctor: {dc.ip}: cannot reach the domain controller")
    assert "Traceback" not in err and ADMIN_PASSWORD not in err
    assert not any(isolated_dirs["data"].rglob("*.jsonl"))


# --- TLS ------------------------------------------------------------------------------------


def make_ca(tmp: Path, label: str):
    """A throw-away CA (key, certificate) and its PEM file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{label} CA")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path = tmp / f"{label}-ca.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, path


def server_cert(ca_key, ca_cert, names: list[str], tls_dir: Path) -> None:
    """Install a server certificate for `names` (signed by the given CA) as the DC's cert.pem/key.pem/ca.pem."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(timezone.utc)
    alt = [x509.IPAddress(ipaddress.ip_address(n)) if n[0].isdigit() else x509.DNSName(n) for n in names]
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (tls_dir / "cert.pem").write_bytes(cert.public_bytes(pem))
    (tls_dir / "key.pem").write_bytes(key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL,
                                                        serialization.NoEncryption()))
    (tls_dir / "ca.pem").write_bytes(ca_cert.public_bytes(pem))


@pytest.fixture
def wrong_name_dc(samba_dc_up: SambaDC, tmp_path: Path) -> Iterator[tuple[SambaDC, Path]]:
    """The DC serving a certificate, from a CA we trust, for another host's name; restored afterwards.

    The fixture's readiness probe validates the DC's real name, so meanwhile it only waits for the port."""
    dc = samba_dc_up
    tls_dir = dc.ca_file.parent
    saved = tmp_path / "saved-tls"
    shutil.copytree(tls_dir, saved)
    ca_key, ca_cert, ca_path = make_ca(tmp_path, "trusted")
    server_cert(ca_key, ca_cert, ["files.fabrikam.example", "10.9.9.9"], tls_dir)
    probe = dc._ldaps_answers
    dc._ldaps_answers = lambda: dc._port_open(636)
    try:
        dc.restart()
        yield dc, ca_path
    finally:
        for item in saved.iterdir():
            shutil.copy2(item, tls_dir / item.name)
        dc._ldaps_answers = probe
        dc.restart()


def spy(monkeypatch: pytest.MonkeyPatch, owner: type, method: str, note) -> list:
    """Record `note(*args)` for every call of owner.method meanwhile (the call still happens)."""
    seen: list = []
    real = getattr(owner, method)

    def wrapper(obj, *args, **kwargs):
        seen.append(note(*args))
        return real(obj, *args, **kwargs)

    monkeypatch.setattr(owner, method, wrapper)
    return seen


def watch(monkeypatch: pytest.MonkeyPatch) -> tuple[list, list]:
    """Every TCP connect as (address, port), and every ldap3 bind attempted meanwhile."""
    from ldap3 import Connection

    return (spy(monkeypatch, socket.socket, "connect", lambda address: tuple(address[:2])),
            spy(monkeypatch, Connection, "bind", lambda *_a: "bind"))


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
def test_certificate_for_the_wrong_name_is_refused_without_fallback(wrong_name_dc, monkeypatch, mode):
    dc, ca_path = wrong_name_dc
    connects, binds = watch(monkeypatch)
    with pytest.raises(DirectoryError) as info:
        open_directory(dc, ldap=mode, ca_file=ca_path)
    message = str(info.value)
    assert message.startswith(f"{dc.ip}: ") and "\n" not in message
    assert "certificate" in message.lower() and ("name" in message.lower() or "hostname" in message.lower())
    assert ADMIN_PASSWORD not in message
    assert binds == []  # no bind at all: the password never left over an unverified channel
    assert connects == [(dc.ip, 636 if mode == "ldaps" else 389)]  # one attempt, no retry on plain LDAP


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
@pytest.mark.parametrize("trust", ["foreign-ca", "system-store"])
def test_certificate_from_an_unknown_ca_is_refused_without_fallback(samba_dc_up, tmp_path, monkeypatch, mode, trust):
    dc = samba_dc_up
    ca_file = make_ca(tmp_path, "foreign")[2] if trust == "foreign-ca" else None
    connects, binds = watch(monkeypatch)
    with pytest.raises(DirectoryError) as info:
        open_directory(dc, ldap=mode, ca_file=ca_file)
    message = str(info.value)
    assert message.startswith(f"{dc.ip}: ") and "\n" not in message
    assert "certificate" in message.lower() and ("verify" in message.lower() or "trust" in message.lower())
    assert binds == []
    assert connects == [(dc.ip, 636 if mode == "ldaps" else 389)]


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
def test_the_right_certificate_binds(samba_dc_up, mode):
    directory = open_directory(samba_dc_up, ldap=mode)
    assert directory.read_values("DC=contoso,DC=local", "name") == ("contoso",)
    directory.close()


# --- LDAP filter metacharacters -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["*", "SAFE*", "X)(sAMAccountName=*", "X\\2a", "X\x00", "*)(|(objectClass=*"])
def test_filter_metacharacters_match_nothing_on_the_real_dc(samba_dc_up, remediator, name):
    computers(samba_dc_up, "cifs/FS01")
    directory = remediator.directory
    assert directory.read_computers([name]) == []
    view = directory.read_cluster([name], [] if "\x00" in name else [f"HOST/{name}"], [name, f"cifs/{name}"])
    assert view.accounts == [] and view.delegators == []
    if "\x00" in name:
        with pytest.raises(SpnError, match="control character"):  # refused before any LDAP search
            directory.find_spn_owners([f"HOST/{name}"])
    else:
        owners = directory.find_spn_owners([f"HOST/{name}"])
        assert all(v == () for v in owners.values())
    assert directory.read_dns_records([name]) == {name.upper(): ()}


# --- read-only profile ------------------------------------------------------------------------


def test_profile_read_only_refuses_every_write_and_changes_nothing(samba_dc_up, isolated_dirs, tmp_path, monkeypatch,
                                                                  capsys):
    from lmdoctor.services.operations import lab_admin as manage
    from tests.samba.scenarios import NODES, populate

    dc = samba_dc_up
    populate(dc, "Ro-" + secrets.token_urlsafe(10) + "-7q!")  # HV01..HV04, HV01 → HV02 delegation missing
    manage.reset(tmp_path / "hosts", "seed")
    use_lab_hosts(tmp_path / "hosts", monkeypatch)
    monkeypatch.setattr(cli.credentials, "ask_on_terminal", lambda _label: ADMIN_PASSWORD)
    profiles.save(profile_for(dc, nodes=NODES, read_only=True))
    hv01 = ComputerAccount(name="HV01", dn=f"CN=HV01,{COMPUTERS_DN}")
    before = delegation(dc, hv01)
    with dc.inside():
        assert cli.main(["check", "--profile", "samba"]) == 1
        capsys.readouterr()
        for argv in (["fix", "--all", "--yes", "--reason", "CHG-1"], ["rollback", "--all", "--yes"],
                     ["credssp", "--open", "HV03", "--reason", "CHG-2", "--yes"]):
            assert cli.main([*argv, "--profile", "samba"]) == 2
            err = capsys.readouterr().err
            assert "read-only" in err.splitlines()[-1], err
    assert delegation(dc, hv01) == before
    assert not (isolated_dirs["data"] / "journal" / "samba.jsonl").exists()
