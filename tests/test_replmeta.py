"""Reading per-attribute change times from replication metadata (both forms a DC returns)."""

from __future__ import annotations

import struct
import uuid
from datetime import datetime, timedelta, timezone

from lmdoctor.services.backends.lab.directory import LabDirectory
from lmdoctor.services.backends.lab.scenarios import generalized
from lmdoctor.services.backends.lab.state import LabStore
from lmdoctor.services.domain import replmeta
from lmdoctor.services.operations.lab_admin import reset

# One msDS-ReplAttributeMetaData value in the layout of DS_REPL_ATTR_META_DATA as Windows returns it
# (https://learn.microsoft.com/archive/blogs/adpowershell/accessing-replication-metadata-using-adpowershell):
# element per member, ftimeLastOriginatingChange in UTC with a trailing Z, a terminating NUL.
WINDOWS_VALUE = ("<DS_REPL_ATTR_META_DATA>\n\t<pszAttributeName>msDS-AllowedToDelegateTo</pszAttributeName>\n"
                 "\t<dwVersion>3</dwVersion>\n\t<ftimeLastOriginatingChange>2026-11-17T13:01:17Z"
                 "</ftimeLastOriginatingChange>\n\t<uuidLastOriginatingDsaInvocationID>"
                 "6b1b5c04-3a5b-4d0c-9d5e-8a2b1d1c0f11</uuidLastOriginatingDsaInvocationID>\n"
                 "\t<usnOriginatingChange>41234</usnOriginatingChange>\n\t<usnLocalChange>41234</usnLocalChange>\n"
                 "\t<pszLastOriginatingDsaDN>CN=NTDS Settings,CN=DC01,CN=Servers,CN=Default-First-Site-Name,"
                 "CN=Sites,CN=Configuration,DC=contoso,DC=local</pszLastOriginatingDsaDN>\n"
                 "</DS_REPL_ATTR_META_DATA>\n\x00")


def blob(entries: list[tuple[int, datetime]]) -> bytes:
    """A replPropertyMetaData vector (version 1) as Samba and Windows store it."""
    out = struct.pack("<IIII", 1, 0, len(entries), 0)
    for attid, when in entries:
        seconds = int((when - replmeta.EPOCH_1601).total_seconds())
        out += struct.pack("<IIQ16sQQ", attid, 1, seconds, uuid.uuid4().bytes_le, 4000, 4000)
    return out


def test_xml_values_give_the_delegation_attributes_times():
    other = WINDOWS_VALUE.replace("msDS-AllowedToDelegateTo", "lastLogonTimestamp")
    found = replmeta.from_xml([WINDOWS_VALUE, other.encode("utf-8")])
    assert found == {"msDS-AllowedToDelegateTo": datetime(2026, 11, 17, 13, 1, 17, tzinfo=timezone.utc)}


def test_binary_metadata_gives_the_delegation_attributes_times():
    t1, t2 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc), datetime(2026, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    data = blob([(0x00000000, t1), (0x00090008, t1), (0x000906FB, t2), (0x00090886, t2), (0x0009005A, t2)])
    assert replmeta.from_binary(data) == {"userAccountControl": t1, "msDS-AllowedToDelegateTo": t2,
                                          "msDS-AllowedToActOnBehalfOfOtherIdentity": t2}


def test_unreadable_metadata_gives_nothing():
    assert replmeta.from_binary(b"") == {} and replmeta.from_binary(b"\x02" + b"\x00" * 15) == {}
    assert replmeta.from_binary(struct.pack("<IIII", 1, 0, 5, 0)) == {}  # says 5 entries, has none
    assert replmeta.from_xml(["<DS_REPL_ATTR_META_DATA>garbage", b"\xff\xfe"]) == {}


def test_the_xml_form_is_preferred_when_the_dc_returns_both():
    old = datetime(2020, 1, 1, tzinfo=timezone.utc)
    raw = {"msDS-ReplAttributeMetaData": [WINDOWS_VALUE.encode()], "replPropertyMetaData": [blob([(0x000906FB, old)])]}
    assert replmeta.change_times(raw)["msDS-AllowedToDelegateTo"].year == 2026
    assert replmeta.change_times({"replPropertyMetaData": [blob([(0x000906FB, old)])]}) == {
        "msDS-AllowedToDelegateTo": old}


def test_lab_writes_stamp_the_written_attribute_only(tmp_path):
    reset(tmp_path, "healthy")
    directory = LabDirectory(LabStore(tmp_path))
    (before,) = directory.read_computers(["HV01"])
    assert before.when_changed > before.last_change(("msDS-AllowedToDelegateTo",)).changed  # logon bookkeeping
    directory.add_values(before.dn, "msDS-AllowedToDelegateTo", ["cifs/FS01.contoso.local"])
    (after,) = LabDirectory(LabStore(tmp_path)).read_computers(["HV01"])
    now = datetime.now(timezone.utc)
    assert now - after.last_change(("msDS-AllowedToDelegateTo",)).changed < timedelta(minutes=1)
    assert after.last_change(("userAccountControl",)) == before.last_change(("userAccountControl",))
    assert generalized(after.when_changed) >= generalized(now - timedelta(minutes=1))
