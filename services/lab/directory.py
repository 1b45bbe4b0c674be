"""The lab directory: the real LdapDirectory code on ldap3's mock strategy with an AD schema."""

from __future__ import annotations

from datetime import datetime, timezone

from ldap3 import MOCK_SYNC, MODIFY_REPLACE, OFFLINE_AD_2012_R2, SUBTREE, Connection, Server

from services.directory.ldap import LdapDirectory
from services.lab.scenarios import ADMIN_DN, BASE_DN, DOMAIN, LAB_PASSWORD, generalized
from services.lab.state import Entries, LabStore


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
        super()._modify(dn, changes)
        stamp = generalized(datetime.now(timezone.utc))
        self.connection.modify(dn, {"whenChanged": [(MODIFY_REPLACE, [stamp])]})
        self.save()

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
