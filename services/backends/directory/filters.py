"""Search filters built once in both forms: RFC 4515 text and the RFC 4511 BER the DC receives.

ldap3 turns a filter string into BER by parsing it character by character into a tree of pyasn1
objects and encoding those, all in pure Python: for the 768-term SPN filter of a 64-node cluster
that was most of the inventory's own time (and ldap3 then writes the objects back out as text for its
own bookkeeping). Filters built here carry their encoding, written with plain byte joins, which
`wire.search` sends as it is. Both forms come from the same values (never one parsed out of the
other); a test holds the encoding to ldap3's own, byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Filter CHOICE tags (RFC 4511 4.5.1.7): context-specific, constructed unless noted.
_AND, _OR, _NOT, _EQUALITY, _PRESENT = 0xA0, 0xA1, 0xA2, 0xA3, 0x87  # present is primitive
_OCTET_STRING = 0x04
_ESCAPES = str.maketrans({"\\": "\\5c", "*": "\\2a", "(": "\\28", ")": "\\29", "\x00": "\\00"})  # RFC 4515


def escape(value: str) -> str:
    """A filter value with RFC 4515's special characters escaped (as ldap3's escape_filter_chars does)."""
    return value.translate(_ESCAPES)


def _tlv(tag: int, body: bytes) -> bytes:
    """One BER element, definite length (short form below 128 bytes, long form above)."""
    size = len(body)
    if size < 0x80:
        return bytes((tag, size)) + body
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + body


@dataclass(frozen=True)
class Filter:
    """One search filter: `text` as RFC 4515 writes it (values escaped), `ber` as it goes on the wire."""

    text: str
    ber: bytes


def equals(attribute: str, value: str) -> Filter:
    """(attribute=value), the value escaped in the text and sent as its UTF-8 bytes."""
    return Filter(f"({attribute}={escape(value)})", _equality(_tlv(_OCTET_STRING, attribute.encode()), value))


def _equality(described: bytes, value: str) -> bytes:
    return _tlv(_EQUALITY, described + _tlv(_OCTET_STRING, value.encode()))


def present(attribute: str) -> Filter:
    return Filter(f"({attribute}=*)", _tlv(_PRESENT, attribute.encode()))


NOTHING = Filter("(!(objectClass=*))", _tlv(_NOT, present("objectClass").ber))  # matches no entry


def all_of(*parts: Filter) -> Filter:
    return Filter(f"(&{''.join(p.text for p in parts)})", _tlv(_AND, b"".join(p.ber for p in parts)))


def negate(part: Filter) -> Filter:
    return Filter(f"(!{part.text})", _tlv(_NOT, part.ber))


def any_of(*parts: Filter) -> Filter:
    return Filter(f"(|{''.join(p.text for p in parts)})", _tlv(_OR, b"".join(p.ber for p in parts)))


def any_equal(attribute: str, values: Iterable[str]) -> Filter:
    """(|(attribute=v1)(attribute=v2)…); with no value, a filter no entry matches. Built in one pass: a
    cluster's SPN filter has hundreds of terms."""
    values = list(values)
    if not values:
        return NOTHING
    described = _tlv(_OCTET_STRING, attribute.encode())
    return Filter("(|" + "".join(f"({attribute}={escape(v)})" for v in values) + ")",
                  _tlv(_OR, b"".join(_equality(described, v) for v in values)))
