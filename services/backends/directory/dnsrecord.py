"""MS-DNSP DNS_RPC_RECORD blobs (the dnsRecord attribute of AD-integrated zones)."""

from __future__ import annotations

import ipaddress
import struct
from datetime import datetime, timedelta, timezone

from lmdoctor.services.domain.errors import LmdoctorError
from lmdoctor.services.domain.models import DnsRecord

TYPE_A = 1
_HEADER = struct.Struct("<HHBBHI")  # DataLength, Type, Version, Rank, Flags, Serial
_EPOCH_1601 = datetime(1601, 1, 1, tzinfo=timezone.utc)


class DnsRecordError(LmdoctorError, ValueError):
    """A dnsRecord blob that does not follow MS-DNSP."""


def hours_since_1601(when: datetime) -> int:
    return int((when - _EPOCH_1601).total_seconds() // 3600)


def parse(name: str, blob: bytes) -> DnsRecord | None:
    """Decode one blob; returns None for non-A records (AAAA, SOA, NS, tombstones)."""
    if len(blob) < 24:
        raise DnsRecordError(f"dnsRecord of {name!r} is {len(blob)} bytes, shorter than the 24-byte header")
    data_length, rtype, version, _rank, _flags, _serial = _HEADER.unpack_from(blob, 0)
    if version != 5:
        raise DnsRecordError(f"dnsRecord of {name!r} has version {version}, expected 5")
    if len(blob) < 24 + data_length:
        raise DnsRecordError(f"dnsRecord of {name!r} is truncated ({len(blob)} < {24 + data_length} bytes)")
    if rtype != TYPE_A:
        return None
    if data_length != 4:
        raise DnsRecordError(f"A record of {name!r} carries {data_length} address bytes, expected 4")
    (ttl,) = struct.unpack_from(">I", blob, 12)
    (timestamp,) = struct.unpack_from("<I", blob, 20)
    address = str(ipaddress.IPv4Address(blob[24:28]))
    try:
        when = _EPOCH_1601 + timedelta(hours=timestamp) if timestamp else None
    except OverflowError:
        raise DnsRecordError(f"dnsRecord of {name!r} has timestamp {timestamp} (hours since 1601) beyond year 9999") from None
    return DnsRecord(name=name.upper(), address=address, timestamp=when, ttl=ttl)


def build_a(address: str, timestamp: datetime | None = None, ttl: int = 1200) -> bytes:
    """Encode an A record; timestamp None makes it static."""
    data = ipaddress.IPv4Address(address).packed
    hours = hours_since_1601(timestamp) if timestamp else 0
    if timestamp and hours < 1:  # 0 means static; negative hours do not fit the field
        raise ValueError(f"timestamp {timestamp.isoformat()} is before 1601-01-01 01:00 UTC and cannot be encoded")
    return _HEADER.pack(len(data), TYPE_A, 5, 0xF0, 0, 1) + struct.pack(">I", ttl) + struct.pack("<II", 0, hours) + data
