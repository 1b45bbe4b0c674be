"""Search result entries are read straight from their BER: the same DN and values ldap3's own decoder finds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from ldap3 import Connection, Server
from ldap3.utils.asn1 import decode_message_fast

from lmdoctor.services.backends.directory import wire
from lmdoctor.services.backends.directory.filters import _tlv

NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,30}", fullmatch=True)
VALUES = st.lists(st.binary(max_size=300), max_size=6)  # past 127 and 255 bytes: the long length forms


def entry_message(message_id: int, dn: str | bytes, attributes: dict[str, list[bytes]]) -> bytes:
    listed = b"".join(_tlv(0x30, _tlv(0x04, name.encode()) + _tlv(0x31, b"".join(_tlv(0x04, v) for v in values)))
                      for name, values in attributes.items())
    name = dn.encode() if isinstance(dn, str) else dn
    return _tlv(0x30, _tlv(0x02, message_id.to_bytes(message_id.bit_length() // 8 + 1, "big"))  # INTEGER, signed
                + _tlv(0x64, _tlv(0x04, name) + _tlv(0x30, listed)))


def ldap3_reading(message: bytes) -> dict:
    strategy = Connection(Server("dc.contoso.local"), client_strategy="SYNC").strategy
    return strategy.decode_response_fast(decode_message_fast(message))


@given(st.integers(1, 2**31 - 1), st.text(max_size=200), st.dictionaries(NAMES, VALUES, max_size=5))
def test_an_entry_reads_as_ldap3_reads_it(message_id, dn, attributes):
    message = entry_message(message_id, dn, attributes)
    answered, operation, start, end = wire._message(message)
    assert (answered, operation, end) == (message_id, 0x64, len(message))
    ours, theirs = wire._entry(message, start, end), ldap3_reading(message)
    assert ours["dn"] == theirs["dn"] == dn
    # ldap3 gives None for an empty value set (typesOnly replies), this reader an empty list
    assert dict(ours["raw"]) == {name: list(values or []) for name, values in theirs["raw_attributes"].items()}


def test_sixteen_thousand_values_in_one_entry():
    values = [f"cifs/HV{i:05d}.contoso.local".encode() for i in range(16_000)]
    message = entry_message(7, "CN=HV01,CN=Computers,DC=contoso,DC=local", {"msDS-AllowedToDelegateTo": values})
    _id, _op, start, end = wire._message(message)
    entry = wire._entry(message, start, end)
    assert entry["raw"]["msds-allowedtodelegateto"] == values  # names compare without case, as in ldap3


def test_a_dn_that_is_not_utf8_is_kept_readable():
    message = entry_message(3, b"CN=\xff\xfe", {"cn": [b"x"]})
    _id, _op, start, end = wire._message(message)
    assert wire._entry(message, start, end)["dn"] == "CN=\\xff\\xfe"
