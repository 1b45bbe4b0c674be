"""SPN parsing, error-signature classification, dnsRecord blobs and RBCD security descriptors."""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone

import pytest
from winacl.dtyp.security_descriptor import SECURITY_DESCRIPTOR
from winacl.dtyp.sid import SID

from lmdoctor.services.backends.directory import dnsrecord
from lmdoctor.services.domain import events, rbcd
from lmdoctor.services.domain.models import VSMS
from lmdoctor.services.domain.spn import (
    Spn,
    SpnError,
    delegation_targets,
    for_host,
    registered_form,
    required_host_spns,
    spn_key,
)

# --- SPNs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text,service,host,port", [
    ("HOST/HV01", "HOST", "HV01", None),
    ("cifs/HV02.contoso.local", "cifs", "HV02.contoso.local", None),
    (f"{VSMS}/HV02.contoso.local", VSMS, "HV02.contoso.local", None),
    ("MSSQLSvc/sql01.contoso.local:1433", "MSSQLSvc", "sql01.contoso.local", 1433),
    ("ldap/DC01.contoso.local/contoso.local", "ldap", "DC01.contoso.local", None),
    ("ldap/DC01.contoso.local:389/contoso.local", "ldap", "DC01.contoso.local", 389),
])
def test_spn_parse(text, service, host, port):
    spn = Spn.parse(text)
    assert (spn.service, spn.host, spn.port) == (service, host, port)


@pytest.mark.parametrize("text,why", [
    ("", "empty"),
    ("HOST", "service/host"),
    ("HOST/", "service/host"),
    ("/HV01", "service/host"),
    ("   /HV01", "service/host"),
    ("HOST/:80", "no host"),
    ("HOST/HV01:0", "invalid port"),
    ("HOST/HV01:65536", "invalid port"),
    ("HOST/HV01:http", "invalid port"),
    ("HOST/HV01:-1", "invalid port"),
    ("HOST/HV01:²", "invalid port"),  # a unicode digit is no port
    ("HOST/HV01:٣", "invalid port"),
    ("HOST/HV\n01", "control character"),
    ("HOST/HV01\x00", "control character"),
    ("HOST/" + "a" * 1100, "longer than 1024"),
])
def test_spn_parse_errors_say_what_is_wrong(text, why):
    with pytest.raises(SpnError, match=why):
        Spn.parse(text)


def test_spn_error_quotes_at_most_60_characters():
    with pytest.raises(SpnError) as info:
        Spn.parse("x" * 900 + "/HV01:99999")
    assert len(str(info.value)) < 200


def test_spn_key_is_case_insensitive_and_keeps_port():
    assert Spn.parse("HOST/HV01.Contoso.Local").key == "host/hv01.contoso.local"
    assert spn_key("cifs/HV02") == spn_key("CIFS/hv02")
    assert spn_key(f"{VSMS}/HV02") == spn_key(f"{VSMS.upper()}/hv02")
    assert spn_key("MSSQLSvc/sql01:1433") == "mssqlsvc/sql01:1433"
    assert spn_key("MSSQLSvc/sql01:1433") != spn_key("MSSQLSvc/sql01")
    assert spn_key("ldap/DC01/contoso.local") == "ldap/dc01"  # the service name part is not part of the key
    assert spn_key("not an spn") == "not an spn"
    assert spn_key("NOT AN SPN") == "not an spn"


def test_spn_str_round_trip():
    for text in ("HOST/HV01", "MSSQLSvc/sql01.contoso.local:1433", f"{VSMS}/HV02"):
        assert str(Spn.parse(text)) == text


def test_registered_form_maps_cifs_to_host():
    assert registered_form("cifs/HV02") == "HOST/HV02"
    assert registered_form("CIFS/HV02.contoso.local") == "HOST/HV02.contoso.local"
    assert registered_form("HOST/HV02") == "HOST/HV02"
    assert registered_form(f"{VSMS}/HV02") == f"{VSMS}/HV02"
    with pytest.raises(SpnError):
        registered_form("garbage")


def test_required_spns_and_delegation_targets():
    spns = required_host_spns("HV01", "HV01.contoso.local")
    assert len(spns) == 12 and len(set(map(spn_key, spns))) == 12
    for service in ("HOST", "RestrictedKrbHost", "WSMAN", VSMS, "Microsoft Virtual Console Service",
                    "MSServerClusterMgmtAPI"):
        assert set(for_host(service, "HV01", "HV01.contoso.local")) <= set(spns)
    assert not any(s.lower().startswith("cifs/") for s in spns)  # cifs is served through HOST
    assert "MSServerClusterMgmtAPI/HV01" not in required_host_spns("HV01", "HV01.contoso.local", cluster_node=False)
    assert delegation_targets("HV02", "HV02.contoso.local") == (
        f"{VSMS}/HV02", f"{VSMS}/HV02.contoso.local", "cifs/HV02", "cifs/HV02.contoso.local")


# --- event classification (the signature table of the domain brief) --------------------------


@pytest.mark.parametrize("message,cause", [
    ("Failed to establish a connection with host 'HV02': No credentials are available in the security package "
     "(0x8009030E).", "kcd-missing-or-kerberos-only"),
    ("The Virtual Machine Management Service failed to authenticate the connection for a Virtual Machine migration "
     "at the source host: no suitable credentials available.", "kcd-missing-or-kerberos-only"),
    ("Migration failed with error 0x8009030e.", "kcd-missing-or-kerberos-only"),
    ("The credentials supplied to the package were not recognized (0x8009030D).", "auth-mismatch-or-wrong-object"),
    ("error 0X8009030D", "auth-mismatch-or-wrong-object"),
    ("The target principal name is incorrect. (0x80090322).", "duplicate-spn-or-stale-dns"),
    ("Kerberos failed: 0x80090322", "duplicate-spn-or-stale-dns"),
    ("SEC_E_NO_AUTHORITY (0x80090311)", "no-kdc"),
    ("No authority could be contacted for authentication.", "no-kdc"),
    ("No connection could be made because the target machine actively refused it. (0x8007274D)", "network"),
    ("A connection attempt failed because the connected party did not properly respond (0x8007274C)", "network"),
    ("An existing connection was forcibly closed by the remote host. (0x80072746)", "network"),
    ("0x8007274d", "network"),
    ("0x8007274c", "network"),
    ("0x80072746", "network"),
    ("Logon failure: the user has not been granted the requested logon type at this computer. (0x80070569)",
     "logon-right"),
    ("failed with 0x80070569", "logon-right"),
    ("The Virtual Machine Management Service on 'HV02' is not configured for live migration.", "migration-disabled"),
])
def test_classify_signatures(message, cause):
    assert events.classify(message) == cause
    assert events.describe(cause) != "Unclassified"


def test_classify_container_event_21024_by_inner_text():
    outer = "Virtual machine migration operation for 'APP01' failed at migration source 'HV01'.\n"
    assert events.classify(outer + "No credentials are available in the security package (0x8009030E).", 21024) \
        == "kcd-missing-or-kerberos-only"
    assert events.classify(outer + "The target principal name is incorrect. (0x80090322).", 21024) \
        == "duplicate-spn-or-stale-dns"
    assert events.classify(outer + "The credentials supplied to the package were not recognized (0x8009030D).",
                           21024) == "auth-mismatch-or-wrong-object"
    assert events.classify(outer, 21024) is None  # the container alone says nothing about the cause


@pytest.mark.parametrize("event_id", [21111, 21502])
def test_classify_cluster_container_events_by_inner_text(event_id):
    text = "Live migration of 'Virtual Machine APP01' failed. No credentials are available in the security package " \
           "(0x8009030E)."
    assert events.classify(text, event_id) == "kcd-missing-or-kerberos-only"
    assert events.classify("Live migration of 'Virtual Machine APP01' failed.", event_id) is None


def test_classify_21501_is_the_migration_limit():
    assert events.classify("Live migration of 'Virtual Machine APP02' could not start.", 21501) == "migration-limit"
    assert events.classify("The migration limit has been reached.") == "migration-limit"
    # inner text wins over the event id
    assert events.classify("The target principal name is incorrect (0x80090322)", 21501) == "duplicate-spn-or-stale-dns"


@pytest.mark.parametrize("event_id", [20413, 20415, 20417])
def test_classify_lifecycle_events(event_id):
    assert events.classify("Virtual machine migration of 'APP01' started.", event_id) == "migration-lifecycle"


def test_classify_hresult_wins_over_a_later_signature_phrase():
    text = "0x8009030E while the connection attempt failed"
    assert events.classify(text) == "kcd-missing-or-kerberos-only"


def test_classify_unknown():
    assert events.classify("Everything is fine") is None
    assert events.classify("") is None
    assert events.classify(None) is None  # type: ignore[arg-type]
    assert events.classify("error 0x80004005") is None
    assert events.describe(None) == "Unclassified"
    assert events.describe("nonsense") == "Unclassified"


def test_hresults_are_extracted_lower_case():
    assert events.hresults("A 0x8009030E and 0x1") == ["0x8009030e"]
    assert events.hresults("0x8009030E 0x80090322") == ["0x8009030e", "0x80090322"]
    assert events.hresults(None) == []  # type: ignore[arg-type]


# --- dnsRecord blobs ------------------------------------------------------------------------


def test_dns_dynamic_record_round_trip():
    when = datetime(2025, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
    blob = dnsrecord.build_a("10.0.10.12", when, ttl=600)
    assert len(blob) == 28
    rec = dnsrecord.parse("hv02", blob)
    assert rec.name == "HV02" and rec.address == "10.0.10.12" and rec.ttl == 600
    assert not rec.static
    assert rec.timestamp == when.replace(minute=0, second=0)  # MS-DNSP keeps hours since 1601


def test_dns_static_record_round_trip():
    rec = dnsrecord.parse("HV02", dnsrecord.build_a("192.0.2.1"))
    assert rec.static and rec.timestamp is None
    assert rec.address == "192.0.2.1" and rec.ttl == 1200


def test_dns_header_layout():
    when = datetime(2025, 1, 1, tzinfo=timezone.utc)
    blob = dnsrecord.build_a("10.1.2.3", when, ttl=3600)
    data_length, rtype, version, rank, flags, serial = struct.unpack_from("<HHBBHI", blob)
    assert (data_length, rtype, version, rank) == (4, 1, 5, 0xF0)
    assert struct.unpack_from(">I", blob, 12) == (3600,)  # TTL is big-endian
    assert struct.unpack_from("<I", blob, 20) == (dnsrecord.hours_since_1601(when),)
    assert blob[24:] == bytes([10, 1, 2, 3])


def test_dns_non_a_records_are_skipped():
    aaaa = struct.pack("<HHBBHI", 16, 28, 5, 0xF0, 0, 1) + b"\x00" * 12 + b"\x20\x01" + b"\x00" * 14
    assert dnsrecord.parse("HV01", aaaa) is None
    tombstone = struct.pack("<HHBBHI", 8, 0, 5, 0xF0, 0, 1) + b"\x00" * 12 + b"\x00" * 8
    assert dnsrecord.parse("HV01", tombstone) is None


@pytest.mark.parametrize("blob,why", [
    (b"", "shorter than the 24-byte header"),
    (dnsrecord.build_a("10.0.0.1")[:23], "shorter than the 24-byte header"),
    (dnsrecord.build_a("10.0.0.1")[:26], "truncated"),
    (dnsrecord.build_a("10.0.0.1")[:24], "truncated"),
    (struct.pack("<HHBBHI", 4, 1, 4, 0xF0, 0, 1) + b"\x00" * 12 + b"\x0a\x00\x00\x01", "version 4"),
    (struct.pack("<HHBBHI", 6, 1, 5, 0xF0, 0, 1) + b"\x00" * 12 + b"\x0a\x00\x00\x01\x00\x00", "6 address bytes"),
])
def test_dns_bad_blobs_raise_dns_record_error(blob, why):
    with pytest.raises(dnsrecord.DnsRecordError, match=why) as info:
        dnsrecord.parse("HV02", blob)
    assert "'HV02'" in str(info.value)


def test_dns_timestamp_beyond_datetime_range_is_an_error_not_a_crash():
    blob = bytearray(dnsrecord.build_a("10.0.0.1", datetime(2025, 1, 1, tzinfo=timezone.utc)))
    blob[20:24] = struct.pack("<I", 0xFFFFFFFF)
    with pytest.raises(dnsrecord.DnsRecordError, match="timestamp"):
        dnsrecord.parse("HV02", bytes(blob))


def test_dns_build_refuses_timestamps_it_cannot_encode():
    for when in (datetime(1601, 1, 1, 0, 30, tzinfo=timezone.utc), datetime(1500, 1, 1, tzinfo=timezone.utc)):
        with pytest.raises(ValueError):
            dnsrecord.build_a("10.0.0.1", when)
    with pytest.raises(ValueError):
        dnsrecord.build_a("10.0.0.256")
    first = datetime(1601, 1, 1, 1, tzinfo=timezone.utc)  # hour 1: the first dynamic timestamp
    assert dnsrecord.parse("X", dnsrecord.build_a("10.0.0.1", first)).timestamp == first


def test_hours_since_1601():
    assert dnsrecord.hours_since_1601(datetime(1601, 1, 1, tzinfo=timezone.utc)) == 0
    assert dnsrecord.hours_since_1601(datetime(1601, 1, 2, 5, 59, tzinfo=timezone.utc)) == 29
    now = datetime(2025, 6, 1, 10, tzinfo=timezone.utc)
    assert dnsrecord.hours_since_1601(now + timedelta(hours=3)) - dnsrecord.hours_since_1601(now) == 3


# --- RBCD security descriptors --------------------------------------------------------------

DOMAIN_SID = "S-1-5-21-1004336348-1177238915-682003330"


def rbcd_blob(*aces: str) -> bytes:
    sd = SECURITY_DESCRIPTOR.from_sddl("O:BAD:" + "".join(aces), domain_sid=DOMAIN_SID)
    return sd.to_bytes()


def test_rbcd_allowed_sids_lists_access_allowed_aces_only():
    blob = rbcd_blob(f"(A;;0xf01ff;;;{DOMAIN_SID}-1105)", f"(D;;0xf01ff;;;{DOMAIN_SID}-1107)",
                     f"(A;;0xf01ff;;;{DOMAIN_SID}-1106)")
    assert rbcd.allowed_sids(blob) == (f"{DOMAIN_SID}-1105", f"{DOMAIN_SID}-1106")


def test_rbcd_empty_dacl_and_no_dacl():
    sd = SECURITY_DESCRIPTOR.from_sddl(f"O:BAD:(A;;0xf01ff;;;{DOMAIN_SID}-1105)", domain_sid=DOMAIN_SID)
    sd.Dacl.aces = []
    assert rbcd.allowed_sids(sd.to_bytes()) == ()
    owner = SID.from_string("S-1-5-32-544").to_bytes()
    no_dacl = struct.pack("<BBHIIII", 1, 0, 0x8000, 20, 0, 0, 0) + owner
    assert rbcd.allowed_sids(no_dacl) == ()


def test_rbcd_real_world_layout():
    """The layout Set-ADComputer -PrincipalsAllowedToDelegateToAccount writes (self-relative, DACL present)."""
    blob = rbcd_blob(f"(A;;0xf01ff;;;{DOMAIN_SID}-1105)")
    revision, _sbz1, control = struct.unpack_from("<BBH", blob)
    assert revision == 1 and control & 0x8000 and control & 0x0004
    assert rbcd.allowed_sids(blob) == (f"{DOMAIN_SID}-1105",)


@pytest.mark.parametrize("garbage", [
    b"",
    b"\x01",
    b"not a security descriptor",
    b"\x01" * 20,
    b"\x00" * 64,
    b"\xff" * 64,
])
def test_rbcd_garbage_raises_a_clear_error(garbage):
    with pytest.raises(rbcd.SecurityDescriptorError, match=f"{len(garbage)} bytes"):
        rbcd.allowed_sids(garbage)


def test_rbcd_truncated_descriptor_raises():
    blob = rbcd_blob(f"(A;;0xf01ff;;;{DOMAIN_SID}-1105)", f"(A;;0xf01ff;;;{DOMAIN_SID}-1106)")
    for cut in (10, 19, 40, len(blob) - 30, len(blob) - 1):
        with pytest.raises(rbcd.SecurityDescriptorError):
            rbcd.allowed_sids(blob[:cut])
