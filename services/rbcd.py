"""Resource-based constrained delegation: decode msDS-AllowedToActOnBehalfOfOtherIdentity."""

from __future__ import annotations

from winacl.dtyp.security_descriptor import SECURITY_DESCRIPTOR


class SecurityDescriptorError(ValueError):
    """Not a self-relative security descriptor."""


def allowed_sids(blob: bytes) -> tuple[str, ...]:
    """SIDs granted by the DACL's access-allowed ACEs (the principals allowed to delegate)."""
    try:
        sd = SECURITY_DESCRIPTOR.from_bytes(blob)
    except Exception as exc:  # winacl raises assorted struct/index errors on garbage
        raise SecurityDescriptorError(f"unreadable security descriptor ({len(blob)} bytes): {type(exc).__name__}") from None
    if sd.Dacl is None:
        return ()
    return tuple(str(ace.Sid) for ace in sd.Dacl.aces if type(ace).__name__ == "ACCESS_ALLOWED_ACE")
