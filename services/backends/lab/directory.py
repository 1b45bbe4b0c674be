"""The lab directory: the real LdapDirectory code on ldap3's mock strategy with an AD schema."""

from __future__ import annotations

from datetime import datetime, timezone

from ldap3 import BASE, MOCK_SYNC, MODIFY_ADD, MODIFY_REPLACE, OFFLINE_AD_2012_R2, SUBTREE, Connection, Server
from ldap3.core.exceptions import LDAPException

from lmdoctor.services.backends.directory.base import DirectoryError
from lmdoctor.services.backends.directory.filters import Filter, equals
from lmdoctor.services.backends.directory.ldap import LdapDirectory, sid_text
from lmdoctor.services.backends.lab.scenarios import (
    ADMIN_DN,
    BASE_DN,
    DOMAIN,
    LAB_PASSWORD,
    generalized,
    restamp,
)
from lmdoctor.services.backends.lab.state import DIRECTORY_FILE, Entries, LabStore
from lmdoctor.services.domain import replmeta
from lmdoctor.services.domain.models import PROTECTED_USERS_RID


def _load(conn: Connection, entries: Entries) -> None:
    for dn, attributes in entries.items():
        conn.strategy.add_entry(dn, attributes)


def mock_connection(entries: Entries) -> Connection:
    server = Server("dc01.contoso.local", get_info=OFFLINE_AD_2012_R2)
    conn = Connection(server, user=ADMIN_DN, password=LAB_PASSWORD, client_strategy=MOCK_SYNC, raise_exceptions=True)
    _load(conn, entries)
    conn.bind()
    return conn


class LabDirectory(LdapDirectory):
    """LdapDirectory whose every write is stamped (whenChanged) and saved to the lab dir.

    Like a DC shared by several admins, it shows every process the latest saved image: a read
    reloads directory.json when another process saved it, and a write reloads it, modifies and
    saves under the lab's lock, so no process's write is lost to another's stale copy."""

    def __init__(self, store: LabStore) -> None:
        self.store = store
        self._version = store.entries_version()
        try:
            connection = mock_connection(store.load_entries())
        except LDAPException as exc:
            raise store.damaged(DIRECTORY_FILE, str(exc)) from None
        super().__init__(connection, DOMAIN, BASE_DN)

    def _refresh(self) -> None:
        """Reload the saved image if it changed since this process last loaded or saved it."""
        with self._lock:
            version = self.store.entries_version()
            if version == self._version:
                return
            entries = self.store.load_entries()
            try:
                for dn in list(self.connection.server.dit):
                    self.connection.strategy.remove_entry(dn)
                _load(self.connection, entries)
            except LDAPException as exc:
                raise self.store.damaged(DIRECTORY_FILE, str(exc)) from None
            self._version = version

    def _search(self, base: str, flt: Filter, attributes: list[str], scope: str = SUBTREE,
                on_spare: bool = False, few: bool = False) -> list[dict]:
        with self._lock:
            self._refresh()
            return super()._search(base, flt, attributes, scope, on_spare, few)

    def _modify(self, dn: str, changes: dict) -> None:
        """Write, then stamp what a DC records: whenChanged, and each written attribute's originating
        change time in the replication metadata (msDS-ReplAttributeMetaData, as Windows returns it).

        Under the lab's lock, on the image as last saved by any process."""
        with self.store.locked(), self._lock:
            self._refresh()
            self._refuse_present(dn, changes)
            try:
                super()._modify(dn, changes)
            except ValueError as exc:  # the mock's own failure (a value it cannot find), as a DC would refuse
                self._version = None  # ldap3's mock is not atomic: drop what it left half done in memory
                self._refresh()
                raise DirectoryError(f"the directory refused the change: {exc}") from None
            now = datetime.now(timezone.utc)
            self.connection.search(dn, "(objectClass=*)", BASE, attributes=[replmeta.XML_ATTRIBUTE])
            meta = list((self.connection.response or [{}])[0].get("raw_attributes", {}).get(replmeta.XML_ATTRIBUTE, []))
            for attribute in changes:
                meta = restamp(meta, attribute, now)
            self.connection.modify(dn, {"whenChanged": [(MODIFY_REPLACE, [generalized(now)])],
                                        replmeta.XML_ATTRIBUTE: [(MODIFY_REPLACE, meta)]})
            self.save()
            self._version = self.store.entries_version()

    def _refuse_present(self, dn: str, changes: dict) -> None:
        """Refuse to add a value the attribute already holds (in any case), as AD does (attributeOrValueExists)."""
        for attribute, operations in changes.items():
            for operation, values in operations:
                if operation != MODIFY_ADD:
                    continue
                held = {v.lower() for v in self.read_values(dn, attribute)}
                present = [v for v in values if str(v).lower() in held]
                if present:
                    raise DirectoryError(f"LDAP error 20 (attributeOrValueExists): {attribute} of {dn} "
                                         f"already holds {present}")

    def dc_clock_offset(self, on_spare: bool = False) -> float | None:
        """The lab DC keeps this machine's time (the mock DIT has no RootDSE clock)."""
        return 0.0

    def _in_protected_users(self, dn: str, user_sid: str | None) -> bool | None:
        """What AD's constructed tokenGroups would say, from the lab groups' member chains."""
        if not user_sid:
            return None
        groups = {e["dn"].lower(): (sid_text((e["raw"].get("objectSid") or [None])[0]),
                                    {m.decode().lower() for m in e["raw"].get("member", [])})
                  for e in self._search(BASE_DN, equals("objectClass", "group"), ["member", "objectSid"])}
        member_of: set[str] = set()
        frontier = {dn.lower()}
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
