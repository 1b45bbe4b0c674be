"""Reading deserialized PowerShell objects: DateTime text, enums, klist output, Hyper-V objects."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmdoctor.services.backends.hosts import psobjects
from lmdoctor.services.domain.models import AuthType, PerformanceOption


def enum(text: str) -> SimpleNamespace:
    """What pypsrp makes of a deserialized enum: an object whose ToString is the member name."""
    return SimpleNamespace(to_string=text, adapted_properties={}, extended_properties={})


@pytest.mark.parametrize("text, expected", [
    ("2026-11-25T10:12:31.1234567+01:00", datetime(2026, 11, 25, 9, 12, 31, 123456, tzinfo=timezone.utc)),
    ("2026-11-25T10:12:31Z", datetime(2026, 11, 25, 10, 12, 31, tzinfo=timezone.utc)),
    ("2026-11-25T10:12:31.5", datetime(2026, 11, 25, 10, 12, 31, 500000, tzinfo=timezone.utc)),
    ("2026-11-25T00:30:00-08:00", datetime(2026, 11, 25, 8, 30, tzinfo=timezone.utc)),
])
def test_parse_datetime(text: str, expected: datetime) -> None:
    assert psobjects.parse_datetime(text) == expected


def test_parse_datetime_rejects_other_text() -> None:
    with pytest.raises(ValueError):
        psobjects.parse_datetime("25.11.2026 10:12")
    assert psobjects.parse_datetime(None) is None


@pytest.mark.parametrize("text, hours", [("2026-11-25T10:00:00.1+05:30", 5.5), ("2026-01-01T00:00:00-08:00", -8),
                                         ("2026-01-01T00:00:00Z", 0), ("2026-01-01T00:00:00", 0)])
def test_local_offset(text: str, hours: float) -> None:
    assert psobjects.local_offset(text) == timedelta(hours=hours)


def test_vmhost_settings_from_enum_names_and_numbers() -> None:
    by_name = {"VirtualMachineMigrationEnabled": True, "VirtualMachineMigrationAuthenticationType": enum("CredSSP"),
               "VirtualMachineMigrationPerformanceOption": enum("SMB"), "MaximumVirtualMachineMigrations": 4,
               "UseAnyNetworkForMigration": False}
    by_number = {**by_name, "VirtualMachineMigrationAuthenticationType": 0, "VirtualMachineMigrationPerformanceOption": 2}
    networks = [{"Subnet": "10.0.20.0/24", "Priority": 0}, {"Subnet": "10.0.30.0/24", "Priority": 1}]
    for raw in (by_name, by_number):
        settings = psobjects.vmhost_settings(raw, networks)
        assert (settings.auth_type, settings.performance_option) == (AuthType.CREDSSP, PerformanceOption.SMB)
        assert (settings.max_migrations, settings.use_any_network) == (4, False)
        assert settings.migration_networks == ("10.0.20.0/24", "10.0.30.0/24")
    with pytest.raises(ValueError, match="AuthType"):
        psobjects.vmhost_settings({**by_name, "VirtualMachineMigrationAuthenticationType": enum("Digest")})


def test_vm_cluster_node_and_event() -> None:
    vm = psobjects.virtual_machine({"Name": "APP01", "State": 3, "ComputerName": "hv02.contoso.local"}, "HV01")
    assert (vm.name, vm.host, vm.state) == ("APP01", "HV02", "Off")
    node = psobjects.cluster_node({"Name": "hv03.contoso.local", "State": enum("Paused")})
    assert (node.name, node.state) == ("HV03", "Paused")
    event = psobjects.host_event({"Id": 21502, "Level": 2, "LogName": "Microsoft-Windows-Hyper-V-High-Availability-Admin",
                                  "TimeCreated": "2026-11-25T10:00:00.0000000+01:00",
                                  "Message": "Live migration failed: The target principal name is incorrect. (0x80090322)."})
    assert (event.level, event.cause, event.time.hour) == ("Error", "duplicate-spn-or-stale-dns", 9)


KLIST = """
Current LogonId is 0:0x5b1c3
Targeted LogonId is 0:0x3e7

Cached Tickets: (2)

#0>\tClient: HV01$ @ CONTOSO.LOCAL
\tServer: cifs/HV02.contoso.local @ CONTOSO.LOCAL
\tStart Time: 11/25/2026 7:00:00 (local)
\tEnd Time:   11/25/2026 17:00:00 (local)
#1>\tClient: HV01$ @ CONTOSO.LOCAL
\tServer: krbtgt/CONTOSO.LOCAL @ CONTOSO.LOCAL
\tStart Time: 11/25/2026 8:05:09 (local)
\tEnd Time:   11/25/2026 18:05:09 (local)
\tRenew Time: 12/2/2026 8:05:09 (local)
""".splitlines()


def test_klist_tgt_start_reads_the_krbtgt_ticket_in_host_local_time() -> None:
    start = psobjects.klist_tgt_start(KLIST, timedelta(hours=1))
    assert start == datetime(2026, 11, 25, 7, 5, 9, tzinfo=timezone.utc)


def test_klist_without_a_tgt_gives_none_and_another_locale_is_read_by_layout() -> None:
    assert psobjects.klist_tgt_start(KLIST[:11], timedelta(0)) is None  # only the cifs ticket
    german = [line.replace("Start Time", "Startzeit").replace("11/25/2026", "25.11.2026") for line in KLIST]
    assert psobjects.klist_tgt_start(german, timedelta(0)) == datetime(2026, 11, 25, 8, 5, 9, tzinfo=timezone.utc)
    assert psobjects.klist_tgt_start(["", "Cached Tickets: (0)"], timedelta(0)) is None


@given(st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(timezone.utc)),
       st.integers(min_value=-12 * 4, max_value=14 * 4))
def test_klist_round_trip(issued: datetime, quarter_hours: int) -> None:
    offset = timedelta(minutes=15 * quarter_hours)
    local = issued.astimezone(timezone(offset))
    line = f"\tStart Time: {local.month}/{local.day}/{local.year} {local.hour}:{local.minute:02d}:{local.second:02d} (local)"
    parsed = psobjects.klist_tgt_start(["\tServer: krbtgt/CONTOSO.LOCAL @ CONTOSO.LOCAL", line], offset)
    assert parsed == issued.replace(microsecond=0)
