"""Bulk-load unrelated computer objects into a STOPPED Samba DC's domain partition (run with the
system python3, which has Samba's ldb bindings; not the project's virtualenv).

    python3 bulk_load.py <partition.ldb> <prototype DN> <first> <count>

Each object copies the prototype computer's security descriptor and domain SID (with its own RID and
objectGUID) and carries three SPNs. Samba's module stack adds ~60 objects/s (index lists rewritten per
add), so the indexes are switched off for the load and rebuilt once at the end (one reindex pass).
"""

from __future__ import annotations

import struct
import sys
import time
import uuid

import ldb  # Samba's bindings (python3-ldb)

CLASSES = ["top", "person", "organizationalPerson", "user", "computer"]
RID_BASE = 500_000


def main(partition: str, prototype: str, first: int, count: int) -> None:
    db = ldb.Ldb(f"tdb://{partition}")
    proto = db.search(base=prototype, scope=ldb.SCOPE_BASE, attrs=["nTSecurityDescriptor", "objectSid", "objectCategory"])[0]
    sd, sid = bytes(proto["nTSecurityDescriptor"][0]), bytes(proto["objectSid"][0])[:-4]
    category = str(proto["objectCategory"][0])
    base = prototype.split(",", 1)[1]
    domain = ".".join(p.split("=", 1)[1] for p in base.split(",") if p.upper().startswith("DC="))
    saved = [bytes(v) for v in db.search(base="@INDEXLIST", scope=ldb.SCOPE_BASE)[0]["@IDXATTR"]]
    started = time.monotonic()
    _set_index(db, [b"cn"])
    db.transaction_start()
    for i in range(first, first + count):
        name = f"WS{i:05d}"
        db.add({"dn": f"CN={name},{base}", "objectClass": CLASSES, "objectCategory": category,
                "cn": name, "name": name, "instanceType": "4", "sAMAccountName": f"{name}$",
                "sAMAccountType": "805306369", "userAccountControl": "4096", "objectGUID": uuid.uuid4().bytes_le,
                "objectSid": sid + struct.pack("<I", RID_BASE + i), "nTSecurityDescriptor": sd,
                "dNSHostName": f"{name}.{domain}", "whenCreated": "20260101000000.0Z", "whenChanged": "20260101000000.0Z",
                "servicePrincipalName": [f"HOST/{name}", f"HOST/{name}.{domain}", f"RestrictedKrbHost/{name}.{domain}"]})
    db.transaction_commit()
    added = time.monotonic() - started
    _set_index(db, saved)  # one reindex of the whole partition
    print(f"added {count} in {added:.1f} s, reindexed in {time.monotonic() - started - added:.1f} s", flush=True)


def _set_index(db: ldb.Ldb, attributes: list[bytes]) -> None:
    message = ldb.Message(ldb.Dn(db, "@INDEXLIST"))
    message["@IDXATTR"] = ldb.MessageElement(attributes, ldb.FLAG_MOD_REPLACE, "@IDXATTR")
    db.modify(message)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
