"""When each delegation attribute of an account last changed, from the DC's replication metadata.

`whenChanged` moves on every write to an object (lastLogonTimestamp, the machine password
change, DNS registration…), so it cannot tell whether delegation changed. The per-attribute
originating change time can. The DC exposes it two ways, both read in the same search as the
attributes themselves:

- `msDS-ReplAttributeMetaData` (Windows Server 2003+): a constructed attribute, one XML value
  (DS_REPL_ATTR_META_DATA) per attribute with `pszAttributeName` and `ftimeLastOriginatingChange`.
  https://learn.microsoft.com/windows/win32/adschema/a-msds-replattributemetadata and
  https://learn.microsoft.com/archive/blogs/adpowershell/accessing-replication-metadata-using-adpowershell
  (which lists `replPropertyMetaData` as its binary counterpart). Samba 4.17 returns no value for it.
- `replPropertyMetaData` (every DS object, MS-ADA3 2.192): the binary vector both Windows and
  Samba store — version 1, then a count and 48-byte entries (ATTRTYP, version, originating change
  time in seconds since 1601, originating DSA invocation id, originating and local USN). Entries
  name attributes by ATTRTYP; for the base-schema attributes below the ATTRTYP is fixed by the
  default prefix table (MS-DRSR 5.16.4: prefix index 9 is 1.2.840.113556.1.4, so
  1.2.840.113556.1.4.N is 0x0009xxxx with N below).

The XML form is used when the DC returns it; otherwise the binary form.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

# The attributes whose change can leave a host's Kerberos tickets stale.
ALLOWED_TO_DELEGATE_TO = "msDS-AllowedToDelegateTo"
USER_ACCOUNT_CONTROL = "userAccountControl"
SERVICE_PRINCIPAL_NAME = "servicePrincipalName"
ALLOWED_TO_ACT = "msDS-AllowedToActOnBehalfOfOtherIdentity"
DELEGATION_ATTRIBUTES = (ALLOWED_TO_DELEGATE_TO, USER_ACCOUNT_CONTROL, SERVICE_PRINCIPAL_NAME, ALLOWED_TO_ACT)

# ATTRTYP of each (attributeID 1.2.840.113556.1.4.N, MS-ADA1/ADA2/ADA3) in the default prefix table.
ATTRTYPS = {
    0x00090008: USER_ACCOUNT_CONTROL,  # 1.2.840.113556.1.4.8
    0x00090303: SERVICE_PRINCIPAL_NAME,  # 1.2.840.113556.1.4.771
    0x000906FB: ALLOWED_TO_DELEGATE_TO,  # 1.2.840.113556.1.4.1787
    0x00090886: ALLOWED_TO_ACT,  # 1.2.840.113556.1.4.2182
}

XML_ATTRIBUTE = "msDS-ReplAttributeMetaData"
BINARY_ATTRIBUTE = "replPropertyMetaData"
LDAP_ATTRIBUTES = [XML_ATTRIBUTE, BINARY_ATTRIBUTE]

EPOCH_1601 = datetime(1601, 1, 1, tzinfo=timezone.utc)
_HEADER = struct.Struct("<IIII")  # version, reserved, count, reserved
_ENTRY = struct.Struct("<IIQ16sQQ")  # attid, version, originating change (s since 1601), invocation id, usns
_NAME = re.compile(r"<pszAttributeName>\s*([^<]+?)\s*</pszAttributeName>")
_TIME = re.compile(r"<ftimeLastOriginatingChange>\s*([^<]+?)\s*</ftimeLastOriginatingChange>")
_WANTED = {a.lower(): a for a in DELEGATION_ATTRIBUTES}


def _iso(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def from_xml(values: Iterable[str | bytes]) -> dict[str, datetime]:
    """Attribute -> last originating change, from msDS-ReplAttributeMetaData values."""
    found: dict[str, datetime] = {}
    for value in values:
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        name, when = _NAME.search(text), _TIME.search(text)
        if name and when and (attribute := _WANTED.get(name.group(1).lower())) and (t := _iso(when.group(1))):
            found[attribute] = t
    return found


def from_binary(blob: bytes) -> dict[str, datetime]:
    """Attribute -> last originating change, from a replPropertyMetaData blob; {} when unreadable."""
    if len(blob) < _HEADER.size:
        return {}
    version, _reserved, count, _reserved2 = _HEADER.unpack_from(blob)
    if version != 1 or len(blob) < _HEADER.size + count * _ENTRY.size:
        return {}
    found: dict[str, datetime] = {}
    for i in range(count):
        attid, _version, seconds, _dsa, _usn, _local = _ENTRY.unpack_from(blob, _HEADER.size + i * _ENTRY.size)
        if attid in ATTRTYPS and seconds:
            found[ATTRTYPS[attid]] = EPOCH_1601 + timedelta(seconds=seconds)
    return found


def change_times(raw_attributes: dict) -> dict[str, datetime]:
    """The delegation attributes' change times from one entry's raw attributes (XML form first)."""
    lowered = {k.lower(): v for k, v in raw_attributes.items()}
    if found := from_xml(lowered.get(XML_ATTRIBUTE.lower()) or []):
        return found
    blobs = lowered.get(BINARY_ATTRIBUTE.lower()) or []
    return from_binary(blobs[0]) if blobs and isinstance(blobs[0], bytes) else {}


def to_xml(attribute: str, when: datetime, version: int = 1) -> str:
    """One msDS-ReplAttributeMetaData value as Windows writes it (used by the lab's directory)."""
    stamp = when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (f"<DS_REPL_ATTR_META_DATA>\n\t<pszAttributeName>{attribute}</pszAttributeName>\n"
            f"\t<dwVersion>{version}</dwVersion>\n\t<ftimeLastOriginatingChange>{stamp}</ftimeLastOriginatingChange>\n"
            "\t<uuidLastOriginatingDsaInvocationID>00000000-0000-0000-0000-000000000000"
            "</uuidLastOriginatingDsaInvocationID>\n\t<usnOriginatingChange>0</usnOriginatingChange>\n"
            "\t<usnLocalChange>0</usnLocalChange>\n\t<pszLastOriginatingDsaDN></pszLastOriginatingDsaDN>\n"
            "</DS_REPL_ATTR_META_DATA>\n")
