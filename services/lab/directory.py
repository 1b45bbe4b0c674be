"""The lab directory: the real LdapDirectory code on ldap3's mock strategy with an AD schema."""

from __future__ import annotations

from datetime import datetime, timezone

from ldap3 import BASE, MOCK_SYNC, MODIFY_REPLACE, OFFLINE_AD_2012_R2, SUBTREE, Connection, Server

from services import replmeta
from services.directory.ldap import LdapDirectory, sid_text
from services.lab.scenarios import ADMIN_DN, BASE_DN, DOMAIN, LAB_PASSWORD, generalized, restamp
from services.lab.state import Entries, LabStore
from services.models import PROTECTED_USERS_RID


def mock_connection(entries: Entries) -> Connection:
    server = Server("dc01.contoso.local", get_info=OFFLINE_AD_2012_R2)
    conn = Connection(server, user=ADMIN_DN, password=LAB_PASSWORD, client_strategy=MOCK_SYNC, raise_exceptions=True)
    for dn, attributes in entries.items():
        conn.strategy.add_entry(dn, attributes)
    conn.bind()
    return conn


class LabDirectory(LdapDirectory):
    """LdapDirectory whose every write is stamped (whenChanged) and saved to the lab dir."""

    def __init__(self, store: LabStore) -> None:
        self.store = store
        super().__init__(mock_connection(store.load_entries()), DOMAIN, BASE_DN)

    def _modify(self, dn: str, changes: dict) -> None:
        """Write, then stamp what a DC records: whenChanged, and each written attribute's originating
        change time in the replication metadata (msDS-ReplAttributeMetaData, as Windows returns it)."""
        super()._modify(dn, changes)
        now = datetime.now(timezone.utc)
        self.connection.search(dn, "(objectClass=*)", BASE, attributes=[replmeta.XML_ATTRIBUTE])
        meta = list((self.connection.response or [{}])[0].get("raw_attributes", {}).get(replmeta.XML_ATTRIBUTE, []))
        for attribute in changes:
            meta = restamp(meta, attribute, now)
        self.connection.modify(dn, {"whenChanged": [(MODIFY_REPLACE, [generalized(now)])],
                                    replmeta.XML_ATTRIBUTE: [(MODIFY_REPLACE, meta)]})
        self.save()

    def dc_clock_offset(self, on_spare: bool = False) -> float | None:
        """The lab DC keeps this machine's time (the mock DIT has no RootDSE clock)."""
        return 0.0

    def _in_protected_users(self, dn: str, user_sid: str | None) -> bool | None:
        """What AD's constructed tokenGroups would say, from the lab groups' member chains."""
        if not user_sid:
            return None
        groups = {e["dn"].lower(): (sid_text((e["raw"].get("objectSid") or [None])[0]),
                                    {m.decode().lower() for m in e["raw"].get("member", [])})
                  for e in self._search(BASE_DN, "(objectClass=group)", ["member", "objectSid"])}
        member_of, frontier = set(), {dn.lower()}
        while frontier:
            frontier = {g for g, (_s, members) in groups.items() if members & frontier} - member_of
            member_of |= frontier
        wanted = f"{user_sid.rsplit('-', 1)[0]}-{PROTECTED_USERS_RID}"
        return any(groups[g][0] == wanted for g in member_of)

    def dump(self) -> Entries:
        self.connection.search(BASE_DN, "(objectClass=*)", SUBTREE, attributes=["*"])
        entries: Entries = {}
        for item in self.connection.response:
            attrs: dict[str, list[str | bytes]] = {}
            for name, raw in item["raw_attributes"].items():
                values = []
                for v in raw:
                    try:
                        values.append(v.decode("utf-8") if name != "dnsRecord" else v)
                    except UnicodeDecodeError:
                        values.append(v)
                attrs[name] = values
            entries[item["dn"]] = attrs
        return entries

    def save(self) -> None:
        self.store.save_entries(self.dump())
