"""Resource-based constrained delegation: decode msDS-AllowedToActOnBehalfOfOtherIdentity."""

from __future__ import annotations

import base64
import struct

from winacl.dtyp.ace import ACE
from winacl.dtyp.security_descriptor import SECURITY_DESCRIPTOR

from lmdoctor.services.domain.errors import LmdoctorError

ATTRIBUTE = "msDS-AllowedToActOnBehalfOfOtherIdentity"
SE_SELF_RELATIVE = 0x8000
_SD_HEADER = struct.Struct("<BBHIIII")  # Revision, Sbz1, Control, OffsetOwner, OffsetGroup, OffsetSacl, OffsetDacl
_ACL_HEADER = struct.Struct("<BBHHH")  # AclRevision, Sbz1, AclSize, AceCount, Sbz2


class SecurityDescriptorError(LmdoctorError, ValueError):
    """Not a self-relative security descriptor."""


def _check_layout(blob: bytes) -> None:
    """winacl reads past the end as zeros; refuse what is not a self-relative descriptor first."""
    def bad(why: str) -> SecurityDescriptorError:
        return SecurityDescriptorError(f"unreadable security descriptor ({len(blob)} bytes): {why}")

    if len(blob) < _SD_HEADER.size:
        raise bad("shorter than the 20-byte header")
    revision, _sbz1, control, *offsets = _SD_HEADER.unpack_from(blob)
    if revision != 1 or not control & SE_SELF_RELATIVE:
        raise bad("not a self-relative descriptor of revision 1")
    if any(o and not _SD_HEADER.size <= o < len(blob) for o in offsets):
        raise bad("an offset points outside the descriptor")
    dacl = offsets[3]
    if dacl:
        if dacl + _ACL_HEADER.size > len(blob):
            raise bad("the DACL header is truncated")
        _rev, _sbz, size, _count, _sbz2 = _ACL_HEADER.unpack_from(blob, dacl)
        if size < _ACL_HEADER.size or dacl + size > len(blob):
            raise bad("the DACL is truncated")


ALLOW_ALL = "0xf01ff"  # what Set-ADComputer -PrincipalsAllowedToDelegateToAccount writes (GenericAll)


def descriptor(allowed: tuple[str, ...] | list[str], denied: tuple[str, ...] | list[str] = ()) -> bytes:
    """A self-relative descriptor as Windows writes it: owner BUILTIN\\Administrators, deny ACEs first, then
    one allow ACE per SID."""
    aces = [f"(D;;{ALLOW_ALL};;;{sid})" for sid in denied] + [f"(A;;{ALLOW_ALL};;;{sid})" for sid in allowed]
    return SECURITY_DESCRIPTOR.from_sddl("O:S-1-5-32-544D:" + "".join(aces)).to_bytes()


def with_allowed(blob: bytes | None, sid: str) -> bytes:
    """`blob` with an allow ACE for `sid` appended (owner, group and other ACEs kept); a new descriptor as
    Windows writes it when there is none. Unchanged when `sid` is already allowed."""
    if not blob:
        return descriptor([sid])
    if sid in allowed_sids(blob):
        return blob
    sd = SECURITY_DESCRIPTOR.from_bytes(blob)
    if sd.Dacl is None:
        return descriptor([sid])
    sd.Dacl.aces.append(ACE.from_sddl(f"A;;{ALLOW_ALL};;;{sid}"))
    return sd.to_bytes()


def allowed_sids(blob: bytes) -> tuple[str, ...]:
    """SIDs granted by the DACL's access-allowed ACEs (the principals allowed to delegate)."""
    return _sids(blob, "ACCESS_ALLOWED_ACE")


def denied_sids(blob: bytes) -> tuple[str, ...]:
    """SIDs named by the DACL's access-denied ACEs (an access check refuses them whatever else allows)."""
    return _sids(blob, "ACCESS_DENIED_ACE")


def _sids(blob: bytes, ace_type: str) -> tuple[str, ...]:
    _check_layout(blob)
    try:
        sd = SECURITY_DESCRIPTOR.from_bytes(blob)
        if sd.Dacl is None:
            return ()
        return tuple(str(ace.Sid) for ace in sd.Dacl.aces if type(ace).__name__ == ace_type)
    except Exception as exc:  # winacl raises assorted struct/index errors on garbage
        raise SecurityDescriptorError(f"unreadable security descriptor ({len(blob)} bytes): {type(exc).__name__}") from None


def describe(values: tuple[str, ...]) -> str:
    """A journaled descriptor value (base64, or none) in words: the SIDs it allows and denies."""
    if not values:
        return "no descriptor"
    try:
        blob = base64.b64decode(values[0], validate=True)
        allowed, denied = allowed_sids(blob), denied_sids(blob)
    except (ValueError, SecurityDescriptorError) as exc:
        return f"unreadable descriptor ({exc})"
    return "allows " + (", ".join(allowed) or "nobody") + (f"; denies {', '.join(denied)}" if denied else "")
