"""klist in any display language: ticket times and purge confirmation read from the layout, not the words.

Verbatim samples (public texts found with the search tool; kept byte for byte, indentation included):
- English ticket list: a published walk-through of HTB Academy's "Kerberos double hop" exercise
  (`klist` in a PSSession of user forend, ACADEMY-EA-MS01).
- French ticket list: a published PingCastle/mimikatz pass-the-ticket note (`klist.exe` after
  `kerberos::ptc`, user jdupond @ domain.local) — on a French host klist still prints M/D/YYYY.
- English purge: Microsoft's SQL Server Big Data Clusters Active Directory troubleshooting page
  ("klist purge … Ticket(s) purged!").
- German purge: a published German Oracle/Kerberos how-to ("Aktuelle Anmelde-ID ist … Ticket(s) gelöscht.").
No verbatim German ticket list was found; the German listing served by the test endpoint uses the
labels of a German klist simulator, which the parser does not read anyway.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from lmdoctor.services.backends.hosts import psobjects
from lmdoctor.services.backends.hosts.base import HostError, Unconfirmed
from lmdoctor.services.backends.hosts.psrp import PsrpHostGateway, WinRMSettings
from lmdoctor.services.operations.remediation import Outcome, Remediator

ENGLISH_LIST = """Current LogonId is 0:0xaa60e

Cached Tickets: (1)

#0>     Client: forend @ INLANEFREIGHT.LOCAL
        Server: krbtgt/INLANEFREIGHT.LOCAL @ INLANEFREIGHT.LOCAL
        KerbTicket Encryption Type: AES-256-CTS-HMAC-SHA1-96
        Ticket Flags 0x40e10000 -> forwardable renewable initial pre_authent name_canonicalize
        Start Time: 5/26/2025 13:15:31 (local)
        End Time:   5/26/2025 23:15:31 (local)
        Renew Time: 6/2/2025 13:15:31 (local)
        Session Key Type: AES-256-CTS-HMAC-SHA1-96
        Cache Flags: 0x1 -> PRIMARY
        Kdc Called: ACADEMY-EA-DC01""".splitlines()

FRENCH_LIST = """LogonId est 0:0x897d99

Tickets mis en cache : (1)

#0>     Client : jdupond @ domain.local
        Serveur : krbtgt/domain.local @ domain.local
        Type de chiffrement KerbTicket : RSADSI RC4-HMAC(NT)
        Indicateurs de tickets 0x50a00000 -> forwardable proxiable renewable pre_authent
        Heure de démarrage : 1/24/2018 18:26:00 (Local)
        Heure de fin :   1/25/2018 4:26:00 (Local)
        Heure de renouvellement : 1/31/2018 18:26:00 (Local)
        Type de clé de session : RSADSI RC4-HMAC(NT)""".splitlines()

ENGLISH_PURGE = """Current LogonId is 0:0xf6b58
        Deleting all tickets:
        Ticket(s) purged!""".splitlines()

GERMAN_PURGE = """
Aktuelle Anmelde-ID ist 0:0x166d1b
        Alle Tickets werden gelöscht:
        Ticket(s) gelöscht.""".splitlines()

UTC = timedelta(0)


@pytest.mark.parametrize("lines,offset,expected", [
    (ENGLISH_LIST, UTC, datetime(2025, 5, 26, 13, 15, 31, tzinfo=timezone.utc)),
    (FRENCH_LIST, timedelta(hours=1), datetime(2018, 1, 24, 17, 26, 0, tzinfo=timezone.utc)),
])
def test_tgt_start_is_read_in_any_language(lines, offset, expected):
    assert psobjects.klist_tgt_start(lines, offset) == expected


def test_only_the_krbtgt_ticket_counts_and_service_tickets_are_skipped():
    service = [line.replace("krbtgt/INLANEFREIGHT.LOCAL", "cifs/DC01.INLANEFREIGHT.LOCAL") for line in ENGLISH_LIST]
    assert psobjects.klist_tgt_start(service, UTC) is None
    both = service + ["", *[line.replace("#0>", "#1>").replace("13:15:31", "12:00:00") for line in ENGLISH_LIST[4:]]]
    assert psobjects.klist_tgt_start(both, UTC) == datetime(2025, 5, 26, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("date,expected", [
    ("26.05.2025 13:15:31", datetime(2025, 5, 26, 13, 15, 31, tzinfo=timezone.utc)),  # day first, dotted
    ("26/5/2025 13:15:31", datetime(2025, 5, 26, 13, 15, 31, tzinfo=timezone.utc)),  # a day above 12
    ("2025-05-26 13:15:31", datetime(2025, 5, 26, 13, 15, 31, tzinfo=timezone.utc)),  # year first
])
def test_other_date_orders_are_read_when_they_are_unambiguous(date, expected):
    lines = [line.replace("5/26/2025 13:15:31", date) for line in ENGLISH_LIST]
    assert psobjects.klist_tgt_start(lines, UTC) == expected


def test_purge_confirmation_reads_the_cache_back_not_the_words():
    since = datetime(2025, 5, 26, 13, 0, tzinfo=timezone.utc)
    assert psobjects.klist_purged(["", "Current LogonId is 0:0x3e7", "", "Cached Tickets: (0)"], UTC, since)
    assert psobjects.klist_purged(["LogonId est 0:0x3e7", "", "Tickets mis en cache : (0)"], UTC, since)
    assert psobjects.klist_purged(ENGLISH_LIST, UTC, since)  # only a ticket issued since the purge began
    assert not psobjects.klist_purged(ENGLISH_LIST, UTC, since + timedelta(hours=1))  # an older ticket remains
    assert not psobjects.klist_purged(ENGLISH_PURGE, UTC, since)  # no listing at all: nothing confirmed
    assert not psobjects.klist_purged(["klist failed with 0xc000005f/-1073741729"], UTC, since)


class ScriptedGateway(PsrpHostGateway):
    """The real purge logic over scripted host answers (one list, or a HostError, per call)."""

    def __init__(self, answers: list) -> None:
        super().__init__(WinRMSettings(transport="http", auth="negotiate"))
        self.answers = answers

    def _call(self, host, cmdlet, *args, stop=False, **params):
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


NOW = "2026-11-26T09:00:00.0000000+01:00"


def test_a_german_purge_whose_cache_cannot_be_read_back_is_unconfirmed_not_failed():
    gateway = ScriptedGateway([[NOW], GERMAN_PURGE, HostError("HV01: klist.exe: Zugriff verweigert")])
    with pytest.raises(Unconfirmed) as caught:
        gateway.purge_tickets("HV01")
    assert not isinstance(caught.value, HostError)
    assert "Ticket(s) gelöscht." in caught.value.host_text


def test_a_german_purge_with_an_empty_cache_is_confirmed():
    ScriptedGateway([[NOW], GERMAN_PURGE, ["", "Aktuelle Anmelde-ID ist 0:0x3e7", "",
                                           "Zwischengespeicherte Tickets: (0)"]]).purge_tickets("HV01")


class UnconfirmingHosts:
    def __init__(self, text: str) -> None:
        self.text = text

    def purge_tickets(self, host: str) -> None:
        raise Unconfirmed(f"{host}: klist purge sent; reading the tickets back failed", self.text)


def test_remediation_reports_an_unconfirmed_purge_as_unconfirmed_and_shows_the_text_safely(tmp_path):
    remediator = Remediator.__new__(Remediator)
    remediator.hosts = UnconfirmingHosts("\tTicket(s) gelöscht.\x1b[2J")
    outcome, notes = Outcome(batch="b"), []
    remediator._purge(outcome, ["HV01"], notes.append)
    assert outcome.unconfirmed == ["HV01"] and outcome.purged == [] and outcome.ok
    assert "not confirmed" in notes[0] and "failed" not in notes[0].split("(")[0]
    assert "Ticket(s) gelöscht." in notes[0] and "\x1b" not in notes[0] and "␛[2J" in notes[0]
