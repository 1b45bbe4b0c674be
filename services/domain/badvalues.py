"""Values lmdoctor cannot use, set aside instead of failing: each becomes a BadValue on its holder.

A damaged or hostile domain holds values no healthy one does: bytes that are not UTF-8 (ldap3
then hands over bytes instead of text), a dNSHostName with a port, a malformed dnsRecord blob or
security descriptor, no userAccountControl at all; a cluster can report a node name that is not a
computer name. Each such value is kept out of the checks, shown safely (controls visible, other
bytes as ``\\xNN``, blobs as hex, long values cut) and reported as a finding on the object holding
it; everything else is read and checked as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from lmdoctor.services.domain.inputs import HOSTNAME
from lmdoctor.services.domain.models import BadValue, ClusterNode, Origin
from lmdoctor.services.domain.safetext import visible

SHOWN_CHARS = 120
SHOWN_BYTES = 48
HOLDER_CHARS = 40  # a holder's name is also part of the finding's id
T = TypeVar("T")


def shown(raw: bytes | str, *, binary: bool = False, limit: int = SHOWN_CHARS) -> str:
    """A raw value as bounded, safe text: a blob as hex; text with non-UTF-8 bytes as ``\\xNN`` escapes."""
    if binary and isinstance(raw, bytes):
        more = f"… ({len(raw)} bytes)" if len(raw) > SHOWN_BYTES else ""
        return f"0x{raw[:SHOWN_BYTES].hex()}{more}" if raw else "(empty)"
    text = raw.decode("utf-8", "backslashreplace") if isinstance(raw, bytes) else str(raw)
    if not text:
        return "(empty)"
    more = f"… ({len(text)} characters)" if len(text) > limit else ""
    return visible(text[:limit]) + more


def lenient(raw: object) -> str:
    """Text for values that are only named or compared, never checked: undecodable bytes as ``\\xNN``."""
    return raw.decode("utf-8", "backslashreplace") if isinstance(raw, bytes) else str(raw)


class ValueCheck:
    """Reads one object's raw attribute values; what cannot be used is collected in ``bad``."""

    def __init__(self, holder: str, origin: Origin = "directory") -> None:
        self.holder = shown(holder, limit=HOLDER_CHARS)
        self.origin = origin
        self.bad: list[BadValue] = []

    def set_aside(self, attribute: str, raw: bytes | str | None, problem: str, *, binary: bool = False) -> None:
        """Record one unusable value (None: the attribute has no value at all)."""
        value = "(no value)" if raw is None else shown(raw, binary=binary)
        self.bad.append(BadValue(origin=self.origin, holder=self.holder, attribute=attribute, value=value,
                                 problem=problem))

    def texts(self, attribute: str, raws: Iterable[bytes | str] | None) -> tuple[str, ...]:
        """Every value that is UTF-8 text."""
        raws = tuple(raws or ())
        try:  # all of them in one C loop, as a healthy directory has it (a node holds ~250 delegation values)
            return tuple(map(bytes.decode, raws))  # type: ignore[arg-type]  # UTF-8, strict; a str: TypeError
        except (UnicodeDecodeError, TypeError):  # a value that is not UTF-8, or one already text
            pass
        out = []
        for raw in raws:
            try:
                out.append(raw.decode("utf-8") if isinstance(raw, bytes) else str(raw))
            except UnicodeDecodeError:
                self.set_aside(attribute, raw, "not UTF-8 text")
        return tuple(out)

    def host_name(self, attribute: str, raws: Iterable[bytes | str] | None) -> str | None:
        """A DNS host name (letters, digits, '-', '.'), or None."""
        names = self.texts(attribute, raws)
        if not names:
            return None
        if HOSTNAME.fullmatch(names[0]):
            return names[0]
        self.set_aside(attribute, names[0], "not a DNS host name (letters, digits, '-' and '.'; no port, at most 253)")
        return None

    def integer(self, attribute: str, raws: Iterable[bytes | str] | None) -> int | None:
        """The single integer value, or None when it is missing or not an integer."""
        raws = list(raws or ())
        if not raws:
            self.set_aside(attribute, None, "missing: not set, or not readable with the rights lmdoctor binds with")
            return None
        texts = self.texts(attribute, raws[:1])
        if not texts:
            return None  # set aside as not UTF-8
        try:
            return int(texts[0])
        except ValueError:
            self.set_aside(attribute, texts[0], "not an integer")
            return None

    def blobs(self, attribute: str, raws: Iterable[bytes] | None, decode: Callable[[bytes], T],
              error: type[Exception]) -> list[T]:
        """Each blob decoded; a malformed one (``error``) is set aside, shown as hex."""
        out = []
        for raw in raws or ():
            try:
                out.append(decode(raw))
            except error as exc:
                self.set_aside(attribute, raw, str(exc), binary=True)
        return out


def node_name_problem(name: str) -> str | None:
    """Why a cluster node's name is not a computer name, or None.

    A computer name is one DNS label: letters, digits and hyphens, 1–63 characters (NetBIOS names
    allow at most 15 and never '\\ / : * ? " < > |'; "the DNS host name restrictions also apply":
    https://learn.microsoft.com/en-us/troubleshoot/windows-server/identity/naming-conventions-for-computer-domain-site-ou).
    lmdoctor builds SPNs and LDAP searches from it, so anything else is left out of the checks."""
    if "." not in name and HOSTNAME.fullmatch(name):
        return None
    return "not a computer name (one DNS label: letters, digits and '-', at most 63 characters)"


def usable_nodes(nodes: Iterable[ClusterNode]) -> tuple[list[ClusterNode], list[BadValue]]:
    """The nodes whose names lmdoctor can check, and the others set aside (reported by the cluster)."""
    usable, bad = [], []
    for node in nodes:
        problem = node_name_problem(node.name)
        if problem is None:
            usable.append(node)
        else:
            check = ValueCheck(node.name, origin="host")
            check.set_aside("Name (Get-ClusterNode)", node.name, problem)
            bad += check.bad
    return usable, bad
