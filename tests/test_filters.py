"""The filters lmdoctor sends carry their own BER: it must be, byte for byte, what ldap3 encodes from the
filter's text (ldap3 parses the text and escapes back; a difference would search for something else).
One deliberate difference: ldap3 strips whitespace around each value, the BER keeps the value as given."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st
from ldap3 import SUBTREE
from ldap3.operation.search import search_operation
from pyasn1.codec.ber import encoder

from lmdoctor.services.backends.directory.filters import (
    NOTHING,
    all_of,
    any_equal,
    any_of,
    equals,
    negate,
    present,
)


def ldap3_encoding(text: str) -> bytes:
    request = search_operation("DC=contoso,DC=local", text, SUBTREE, "ALWAYS", ["cn"], 0, 0, False, True, True)
    return encoder.encode(request["filter"])


# any text a str can be encoded from, without the surrounding whitespace ldap3 would strip
VALUES = st.text(st.characters(blacklist_categories=("Cs",))).filter(lambda v: v == v.strip())


@given(st.lists(VALUES, max_size=8), st.lists(VALUES, max_size=3))
@example(["*", "(", ")", "\\", "\x00", "a*)(objectClass=*"], ["\\2a", "é/ü"])
@example(["x" * 200], [])
def test_encoding_is_ldap3s_for_the_same_text(spns, names):
    flt = all_of(any_equal("servicePrincipalName", spns), negate(any_equal("sAMAccountName", names)),
                 any_of(equals("objectClass", "computer"), present("dNSHostName")))
    assert flt.ber == ldap3_encoding(flt.text)


def test_long_filters_use_the_long_length_form():
    values = [f"Microsoft Virtual System Migration Service/HV{i:03d}.contoso.local" for i in range(800)]
    flt = any_equal("servicePrincipalName", values)
    assert len(flt.ber) > 65536
    assert flt.ber == ldap3_encoding(flt.text)


def test_no_value_matches_nothing():
    assert any_equal("dc", []) == NOTHING
    assert NOTHING.text == "(!(objectClass=*))"
    assert NOTHING.ber == ldap3_encoding(NOTHING.text)


def test_the_value_is_sent_exactly_where_ldap3_would_strip_it():
    flt = equals("sAMAccountName", " HV01$\t")
    assert flt.ber.endswith(b"\x04\x07 HV01$\t")
    assert ldap3_encoding(flt.text).endswith(b"\x04\x05HV01$")
