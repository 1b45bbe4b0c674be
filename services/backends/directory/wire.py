"""One search over a bound ldap3 connection: the filter sent as its own BER, the entries read straight from it.

ldap3 does both ends in pure Python, element by element: it encodes a filter by parsing its text into
pyasn1 objects (and writes them back out as text for its bookkeeping), and decodes every attribute value
of every entry through a recursive BER walk plus a formatting pass. For a 64-node cluster — 768 SPN
terms out, ~16 000 delegation values in — that was most of the inventory's own time. Here ldap3 still
opens, binds, frames and sends (TLS, timeouts, usage counts, the result and its errors); the filter's
bytes go out as built (`filters`), and each SearchResultEntry is split into its values in one flat loop.

Only on ldap3's plain synchronous strategy without a schema: the mock (the lab) evaluates filters from
ldap3's objects, and with a schema ldap3 may rewrite values (a SID's text into its bytes). Those, and a
reply where the DC cut a long attribute into ranges (which ldap3 follows), go through `Connection.search`.
"""

from __future__ import annotations

from ldap3 import DEREF_ALWAYS, Connection
from ldap3.core.exceptions import LDAPOperationResult, LDAPSessionTerminatedByServerError, LDAPSocketOpenError
from ldap3.core.results import DO_NOT_RAISE_EXCEPTIONS
from ldap3.operation.search import search_operation
from ldap3.protocol.convert import build_controls_list
from ldap3.protocol.rfc2696 import paged_search_control
from ldap3.protocol.rfc4511 import LDAPMessage, MessageID, ProtocolOp
from ldap3.strategy.base import BaseStrategy
from ldap3.strategy.sync import SyncStrategy
from ldap3.utils.asn1 import decode_message_fast
from ldap3.utils.ciDict import CaseInsensitiveDict
from ldap3.utils.dn import safe_dn
from pyasn1.type import univ

from lmdoctor.services.backends.directory.filters import Filter
from lmdoctor.services.domain.badvalues import lenient

PAGED_RESULTS = "1.2.840.113556.1.4.319"  # RFC 2696 simple paged results control
_PLACEHOLDER = "(objectClass=*)"  # what the request is built with before its filter is swapped in
_SEARCH_RESULT_ENTRY = 0x64  # [APPLICATION 4], constructed

Entry = dict  # {"dn": str, "raw": case-insensitive attribute name -> list of value bytes}


def search(conn: Connection, base: str, flt: Filter, scope: str, attributes: list[str],
           paged_size: int | None = None, paged_cookie: bytes | None = None) -> tuple[list[Entry], bytes | None]:
    """The entries of one search (one page when `paged_size`), and the cookie of the next page (None: done).
    Raises ldap3's exceptions as `Connection.search` does (raise_exceptions)."""
    if type(conn.strategy) is not SyncStrategy or (conn.server and conn.server.schema):
        return _through_ldap3(conn, base, flt, scope, attributes, paged_size, paged_cookie)
    controls = [paged_search_control(False, paged_size, paged_cookie)] if paged_size else None
    if conn.check_names and base:
        base = safe_dn(base)
    with conn.connection_lock:
        request = search_operation(base, _PLACEHOLDER, scope, DEREF_ALWAYS, attributes, 0, 0, False,
                                   conn.auto_escape, conn.auto_encode, None, validator=None,
                                   check_names=conn.check_names)
        described = BaseStrategy.decode_request("searchRequest", request, controls)
        described["filter"] = flt.text  # ldap3 keeps it as conn.request and would follow a referral with it
        # an untyped value: pyasn1 copies an Any's bytes into the message as they are
        request.setComponentByName("filter", univ.Any(flt.ber), verifyConstraints=False)
        entries, result = _receive(conn, _send(conn, request, controls, described))
    conn.result = result
    if conn.raise_exceptions and result["result"] not in DO_NOT_RAISE_EXCEPTIONS:
        raise LDAPOperationResult(result=result["result"], description=result["description"], dn=result["dn"],
                                  message=result["message"], response_type=result["type"])
    if any(";range=" in name for entry in entries for name in entry["raw"]):  # ldap3 reads the other ranges
        return _through_ldap3(conn, base, flt, scope, attributes, paged_size, paged_cookie)
    return entries, _cookie(result)


def _through_ldap3(conn: Connection, base: str, flt: Filter, scope: str, attributes: list[str],
                   paged_size: int | None, paged_cookie: bytes | None) -> tuple[list[Entry], bytes | None]:
    conn.search(base, flt.text, search_scope=scope, attributes=attributes, paged_size=paged_size,
                paged_cookie=paged_cookie)
    entries = [{"dn": item["dn"], "raw": item["raw_attributes"]} for item in conn.response or []
               if item.get("type") == "searchResEntry"]
    return entries, _cookie(conn.result)


def _cookie(result: dict | None) -> bytes | None:
    controls = (result or {}).get("controls") or {}
    return controls.get(PAGED_RESULTS, {}).get("value", {}).get("cookie") or None


def _send(conn: Connection, request: object, controls: list | None, described: dict) -> int:
    """ldap3's `BaseStrategy.send` for one search request whose description is given (ldap3 would write it
    from the request's filter objects, which this request does not have); returns the message id."""
    if not conn.listening:
        conn.last_error = "unable to send message, socket is not open"
        raise LDAPSocketOpenError(conn.last_error)
    message_id = conn.server.next_message_id()
    message = LDAPMessage()
    message["messageID"] = MessageID(message_id)
    message["protocolOp"] = ProtocolOp().setComponentByName("searchRequest", request)
    built = build_controls_list(controls)
    if built is not None:
        message["controls"] = built
    conn.request = described
    conn.strategy._outstanding[message_id] = described
    conn.strategy.sending(message)
    return message_id


def _receive(conn: Connection, message_id: int) -> tuple[list[Entry], dict]:
    """The reply to `message_id`: its entries, decoded here, and its result (SearchResultDone), which ldap3
    decodes. References are skipped (referrals are not followed); a notice of disconnection ends the
    session as in ldap3."""
    strategy = conn.strategy
    entries: list[Entry] = []
    try:
        while True:
            messages = strategy.receiving()  # whole messages, read under the connection's receive timeout
            if not messages:
                raise LDAPSessionTerminatedByServerError("the directory closed the connection")
            for raw in messages:
                if conn.usage:
                    conn._usage.update_received_message(len(raw))
                answered, operation, start, end = _message(raw)
                if answered == message_id and operation == _SEARCH_RESULT_ENTRY:
                    entries.append(_entry(raw, start, end))
                    continue
                response = strategy.decode_response_fast(decode_message_fast(raw))
                if answered == 0:  # an unsolicited notification (RFC 4511 4.4): the server is leaving
                    strategy.close()
                    raise LDAPSessionTerminatedByServerError("session terminated by server")
                if answered == message_id and response["type"] == "searchResDone":
                    return entries, response
    finally:
        strategy._outstanding.pop(message_id, None)


def _length(data: bytes, at: int) -> tuple[int, int]:
    """The BER length whose first byte is at `at`, and where its content starts."""
    first = data[at]
    if first < 0x80:
        return first, at + 1
    size = first & 0x7F
    return int.from_bytes(data[at + 1:at + 1 + size], "big"), at + 1 + size


def _message(data: bytes) -> tuple[int, int, int, int]:
    """LDAPMessage ::= SEQUENCE { messageID INTEGER, protocolOp, controls }: the id, the operation's tag and
    where the operation's content starts and ends."""
    _size, at = _length(data, 1)
    size, at = _length(data, at + 1)  # messageID
    message_id = int.from_bytes(data[at:at + size], "big", signed=True)
    at += size
    operation = data[at]
    size, at = _length(data, at + 1)
    return message_id, operation, at, at + size


def _entry(data: bytes, at: int, end: int) -> Entry:
    """SearchResultEntry ::= { objectName LDAPDN, attributes SEQUENCE OF { type, vals SET OF value } }."""
    size, at = _length(data, at + 1)
    dn = lenient(data[at:at + size])
    _size, at = _length(data, at + size + 1)  # into the attribute list
    raw: CaseInsensitiveDict = CaseInsensitiveDict()
    while at < end:
        size, at = _length(data, at + 1)  # one PartialAttribute
        last = at + size
        size, at = _length(data, at + 1)
        name = data[at:at + size].decode("utf-8", "backslashreplace")
        _size, at = _length(data, at + size + 1)  # into its value set
        values = []
        while at < last:  # each value an OCTET STRING: tag, length, bytes (inlined: ~16 000 for 64 nodes)
            first = data[at + 1]
            if first < 0x80:
                start, size = at + 2, first
            else:
                start = at + 2 + (first & 0x7F)
                size = int.from_bytes(data[at + 2:start], "big")
            values.append(data[start:start + size])
            at = start + size
        raw[name] = values
    return {"dn": dn, "raw": raw}
