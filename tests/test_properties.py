"""Property tests: parsers and encoders never fail in any but their own documented way."""

from __future__ import annotations

import ipaddress
import re
import struct
from datetime import datetime, timezone

from hypothesis import assume, example, given
from hypothesis import strategies as st

from lmdoctor.services.backends.directory import dnsrecord
from lmdoctor.services.backends.directory.filters import any_equal
from lmdoctor.services.domain import events, rbcd
from lmdoctor.services.domain.spn import Spn, SpnError, spn_key

ASCII_FLIP = str.maketrans("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
                           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
# Letters whose upper and lower case map one-to-one (no ß → SS, no dotless i, no final sigma).
SIMPLE_CASE = "".join(c for c in "abcdefghijklmnopqrstuvwxyzàéèüöäçñøåæœ" + "αβγδεζηθλμπρτφχψω" + "абвгдежзиклмнопрстуфхцчшщыэюя"
                      if c.upper().lower() == c and len(c.upper()) == 1)
spn_like = st.builds(
    lambda svc, host, port, tail: f"{svc}/{host}{port}{tail}",
    st.sampled_from(["HOST", "cifs", "Microsoft Virtual System Migration Service", "WSMAN", "ldap", "MSSQLSvc"]),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9.-]{0,40}", fullmatch=True),
    st.one_of(st.just(""), st.integers(-5, 70000).map(lambda p: f":{p}"), st.text(max_size=4).map(lambda t: ":" + t)),
    st.one_of(st.just(""), st.text(max_size=10).map(lambda t: "/" + t)),
)
any_text = st.one_of(st.text(), st.text(alphabet=st.characters(codec="utf-8")), spn_like)


# --- SPNs -----------------------------------------------------------------------------------


@given(any_text)
@example("HOST/HV01:²")
@example("HOST/HV01:٣")
@example("a/b:" + "9" * 5000)
def test_spn_parse_raises_only_spn_error(text):
    try:
        spn = Spn.parse(text)
    except SpnError:
        return
    assert spn.host and spn.service.strip()
    assert spn.port is None or 0 < spn.port < 65536
    assert Spn.parse(str(spn)) == spn  # the canonical form parses to itself


@given(st.one_of(st.text(), spn_like))
def test_spn_key_ignores_ascii_case(text):
    assert spn_key(text) == spn_key(text.translate(ASCII_FLIP))
    if text.isascii():
        assert spn_key(text) == spn_key(text.upper()) == spn_key(text.lower())


@given(st.text(alphabet=SIMPLE_CASE + "/.:-0123456789 ", max_size=60))
def test_spn_key_ignores_unicode_case(text):
    assert spn_key(text) == spn_key(text.upper()) == spn_key(text.swapcase())


@given(spn_like)
def test_spn_key_is_lower_case_and_idempotent(text):
    key = spn_key(text)
    assert key == key.lower()
    assert spn_key(key) == key


# --- DNS records ----------------------------------------------------------------------------


@given(st.binary(max_size=64))
@example(b"")
@example(struct.pack("<HHBBHI", 4, 1, 5, 0xF0, 0, 1) + b"\x00" * 8 + b"\xff\xff\xff\xff" + b"\x0a\x00\x00\x01")
def test_dns_parse_raises_only_dns_record_error(blob):
    try:
        rec = dnsrecord.parse("HV01", blob)
    except dnsrecord.DnsRecordError:
        return
    assert rec is None or ipaddress.IPv4Address(rec.address)


@given(st.binary(min_size=0, max_size=40))
def test_dns_parse_of_a_header_with_random_tail(tail):
    blob = struct.pack("<HHBBHI", len(tail) if len(tail) < 8 else 4, 1, 5, 0xF0, 0, 1) + tail
    try:
        dnsrecord.parse("HV01", blob)
    except dnsrecord.DnsRecordError:
        pass


@given(
    st.ip_addresses(v=4),
    st.one_of(st.none(), st.datetimes(min_value=datetime(1601, 1, 1, 1), max_value=datetime(9999, 12, 31, 23),
                                      timezones=st.just(timezone.utc))),
    st.integers(0, 2**32 - 1),
)
def test_dns_build_parse_round_trip(address, when, ttl):
    rec = dnsrecord.parse("hv01", dnsrecord.build_a(str(address), when, ttl))
    assert rec.name == "HV01"
    assert rec.address == str(address)
    assert rec.ttl == ttl
    if when is None:
        assert rec.static and rec.timestamp is None
    else:
        assert not rec.static
        assert rec.timestamp == when.replace(minute=0, second=0, microsecond=0)


# --- events ---------------------------------------------------------------------------------


@given(st.text(), st.one_of(st.none(), st.integers(-(2**31), 2**31)))
def test_classify_never_raises(text, event_id):
    cause = events.classify(text, event_id)
    assert cause is None or events.describe(cause) != "Unclassified"  # a known cause, or a named code


@given(st.text(max_size=200), st.text(max_size=200))
def test_classify_finds_a_hresult_anywhere(before, after):
    assume("0x" not in before.lower() + after.lower())
    cause = events.classify(f"{before} 0x80090322 {after}")
    assert cause is not None  # an earlier signature may match a phrase in the noise, but never nothing


# --- RBCD -----------------------------------------------------------------------------------


@given(st.binary(max_size=200))
@example(b"\x01\x00\x04\x80" + b"\x00" * 16)
@example(b"\x01\x00\x04\x80" + struct.pack("<IIII", 0, 0, 0, 20) + b"\x02\x00\x08\x00\x05\x00\x00\x00")
@example(b"\x01\x00\x04\x80" + struct.pack("<IIII", 0, 0, 0, 20) + b"\x02\x00\x30\x00\x01\x00\x00\x00"
         + b"\x00\x00\x28\x00" + b"\xff" * 36)
def test_rbcd_raises_only_security_descriptor_error(blob):
    try:
        sids = rbcd.allowed_sids(blob)
    except rbcd.SecurityDescriptorError:
        return
    assert all(isinstance(s, str) for s in sids)


@given(st.binary(min_size=0, max_size=120))
def test_rbcd_on_a_plausible_header_with_random_body(body):
    blob = struct.pack("<BBHIIII", 1, 0, 0x8004, 0, 0, 0, 20) + body
    try:
        rbcd.allowed_sids(blob)
    except rbcd.SecurityDescriptorError:
        pass


# --- LDAP filters ---------------------------------------------------------------------------

ESCAPE = re.compile(r"\\([0-9a-fA-F]{2})")
VALUE_PART = re.compile(r"\(attr=((?:[^()])*)\)")


def unescape(text: str) -> str:
    return ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


@given(st.lists(st.text(), max_size=6))
@example(["*", "(", ")", "\\", "\x00", "a*)(objectClass=*"])
@example(["\\2a", "\\\\", "))(|(uid=*"])
def test_or_filter_escapes_every_value(values):
    flt = any_equal("attr", values).text
    if not values:
        assert flt == "(!(objectClass=*))"
        return
    assert flt.startswith("(|") and flt.endswith(")")
    parts = VALUE_PART.findall(flt[2:-1])
    assert len(parts) == len(values)
    assert "".join(f"(attr={p})" for p in parts) == flt[2:-1]
    for escaped, original in zip(parts, values, strict=True):
        assert not set(escaped) & set("*()\x00")
        assert "\\" not in ESCAPE.sub("", escaped)  # every backslash starts an escape
        assert unescape(escaped) == original  # and nothing else was changed
