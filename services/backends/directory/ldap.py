"""The Active Directory backend over LDAP (ldap3). The lab runs this same code on a mock DIT."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from functools import partial

from ldap3 import BASE, MODIFY_ADD, MODIFY_DELETE, SUBTREE, Connection
from ldap3.core import exceptions as lx
from ldap3.core.results import RESULT_SIZE_LIMIT_EXCEEDED

from lmdoctor.services.backends.directory import dnsrecord, wire
from lmdoctor.services.backends.directory.base import ClusterView, DirectoryConflict, DirectoryError
from lmdoctor.services.backends.directory.filters import (
    Filter,
    all_of,
    any_equal,
    any_of,
    equals,
    negate,
    present,
)
from lmdoctor.services.domain import rbcd, replmeta
from lmdoctor.services.domain.badvalues import ValueCheck, lenient
from lmdoctor.services.domain.models import (
    PROTECTED_USERS_RID,
    AttributeChange,
    BadValue,
    ComputerAccount,
    DnsRecord,
    OperatorAccount,
)
from lmdoctor.services.domain.spn import registered_form, spn_key

COMPUTER_ATTRIBUTES = [
    "sAMAccountName",
    "dNSHostName",
    "servicePrincipalName",
    "userAccountControl",
    "msDS-AllowedToDelegateTo",
    "msDS-AllowedToActOnBehalfOfOtherIdentity",
    "whenChanged",
    *replmeta.LDAP_ATTRIBUTES,  # per-attribute change times, returned in the same search
    "msDS-SupportedEncryptionTypes",
    "objectSid",
    "memberOf",
    "primaryGroupID",
]
RBCD = "msDS-AllowedToActOnBehalfOfOtherIdentity"
MAX_NESTING = 16  # group nesting levels followed when resolving RBCD grants to groups
OPERATOR_ATTRIBUTES = ["userAccountControl", "objectSid", "msDS-SupportedEncryptionTypes"]
PAGE_SIZE = 500
COMPUTERS = equals("objectClass", "computer")
ANY_OBJECT = present("objectClass")


def domain_to_base_dn(domain: str) -> str:
    return ",".join(f"DC={part}" for part in domain.split("."))


def explain(exc: Exception) -> str:
    """One clear line for an LDAP failure; never echoes credentials."""
    if isinstance(exc, lx.LDAPInvalidCredentialsResult):
        return "the directory rejected the credentials (wrong user or password)"
    if isinstance(exc, lx.LDAPInsufficientAccessRightsResult):
        detail = (getattr(exc, "message", "") or "").strip()
        return ("insufficient access rights: writing delegation needs Domain Admin rights (SeEnableDelegationPrivilege)"
                + (f" [{detail}]" if detail else ""))
    if isinstance(exc, lx.LDAPConstraintViolationResult):
        return f"the directory refused the change (constraint violation): {getattr(exc, 'message', '') or exc}"
    if isinstance(exc, lx.LDAPStrongerAuthRequiredResult):
        return "the directory requires an encrypted connection (use LDAPS or StartTLS)"
    if isinstance(exc, lx.LDAPNoSuchObjectResult):
        return f"no such object: {getattr(exc, 'dn', '') or ''}".strip()
    if isinstance(exc, (lx.LDAPStartTLSError, lx.LDAPSSLConfigurationError, lx.LDAPCertificateError)) or (
            isinstance(exc, lx.LDAPSocketOpenError) and any(w in str(exc).lower() for w in ("ssl", "certificate", "tls"))):
        return f"TLS failure talking to the domain controller (certificate not trusted or not for this name?): {exc}"
    if isinstance(exc, (lx.LDAPSocketOpenError, lx.LDAPSocketReceiveError, lx.LDAPSocketSendError,
                        lx.LDAPSessionTerminatedByServerError)):
        return f"cannot reach the domain controller: {exc}"
    if isinstance(exc, lx.LDAPOperationResult):
        return f"LDAP error {exc.result} ({exc.description}): {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def _text(values: object) -> tuple[str, ...]:
    """Values only named or compared (never checked): bytes that are not UTF-8 as \\xNN escapes."""
    if values is None or values == []:
        return ()
    return tuple(lenient(v) for v in (values if isinstance(values, list) else [values]))


def _when(value: object) -> datetime | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (str, bytes)):
        text = lenient(value)
        try:
            return datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
        except ValueError:
            return None
    return None


def _sid(raw: dict) -> str | None:
    """objectSid in its S-1-… form, from the raw bytes (whatever schema the connection has)."""
    return sid_text((raw.get("objectSid") or [None])[0])


def _int(values: object) -> int | None:
    texts = _text(values)
    try:
        return int(texts[0]) if texts else None
    except ValueError:
        return None


def sid_text(blob: object) -> str | None:
    """A binary SID (MS-DTYP 2.4.2.2) as S-1-…; None when it is not one."""
    if isinstance(blob, str):
        return blob if blob.startswith("S-") else None
    if not isinstance(blob, bytes) or len(blob) < 8 or len(blob) != 8 + 4 * blob[1]:
        return None
    authority = int.from_bytes(blob[2:8], "big")
    subs = [int.from_bytes(blob[8 + 4 * i:12 + 4 * i], "little") for i in range(blob[1])]
    return "-".join(["S", str(blob[0]), str(authority), *map(str, subs)])


def _short(sam: str) -> str:
    return sam.rstrip("$").upper()


def _sams(names: Iterable[str]) -> list[str]:
    return [f"{n.upper()}$" for n in names]


def _lookups(spns: Iterable[str]) -> dict[str, str]:
    """Asked SPN (lower-cased) -> the lower-cased SPN the KDC looks up (cifs/X is held as HOST/X)."""
    return {spn_key(s): spn_key(registered_form(s)) for s in spns}


def _owners(wanted: dict[str, str], entries: list[dict]) -> dict[str, tuple[str, ...]]:
    """Asked SPN -> short names of every entry holding its registered form."""
    held: dict[str, set[str]] = {k: set() for k in wanted.values()}
    for e in entries:
        name = _short((_text(e["raw"].get("sAMAccountName")) or (e["dn"],))[0])
        for spn in _text(e["raw"].get("servicePrincipalName")):
            if spn_key(spn) in held:
                held[spn_key(spn)].add(name)
    return {asked: tuple(sorted(held[lookup])) for asked, lookup in wanted.items()}


class LdapDirectory:
    """Directory protocol over one bound ldap3 connection."""

    def __init__(self, connection: Connection, domain: str, base_dn: str | None = None,
                 spare: Connection | None = None) -> None:
        """`spare` (optional): a second bound connection, used read-only to run one search of
        `read_cluster` concurrently with the others."""
        self.connection = connection
        self.spare = spare
        self.domain = domain.lower()
        self.base_dn = base_dn or domain_to_base_dn(domain)
        self.round_trips = 0
        self._lock = threading.RLock()  # ldap3 connections are not thread-safe
        self._spare_lock = threading.RLock()

    def search_operations(self) -> int:
        """Searches sent so far as counted by ldap3 itself (both connections; needs collect_usage)."""
        return sum(c.usage.search_operations for c in (self.connection, self.spare) if c is not None and c.usage)

    # --- reads -------------------------------------------------------------------------
    def _search(self, base: str, flt: Filter, attributes: list[str], scope: str = SUBTREE,
                on_spare: bool = False, few: bool = False) -> list[dict]:
        """Entries ({dn, raw}: values as bytes); every page counts as a round trip.

        A subtree search is paged, unless `few` says it matches a handful of entries (one per name asked):
        the paged-results control makes Samba read every entry twice (~14 ms for 64 nodes). Should the DC
        still cut such an answer at its size limit (sizeLimitExceeded; unpaged AD searches stop at
        MaxPageSize, 1 000 by default: learn.microsoft.com/windows/win32/adsi/retrieving-large-results-sets),
        the search is sent again, paged."""
        conn, lock = (self.spare, self._spare_lock) if on_spare and self.spare else (self.connection, self._lock)
        paged = scope == SUBTREE and not few
        entries: list[dict] = []
        cookie: bytes | None = None
        with lock:
            try:
                while True:
                    self.round_trips += 1
                    page, cookie = wire.search(conn, base, flt, scope, attributes, PAGE_SIZE if paged else None,
                                               cookie)
                    if scope == SUBTREE and not paged and (conn.result or {}).get("result") == RESULT_SIZE_LIMIT_EXCEEDED:
                        paged, cookie = True, None
                        continue
                    entries += page
                    if not cookie:
                        return entries
            except lx.LDAPNoSuchObjectResult:
                return entries
            except lx.LDAPException as exc:
                raise DirectoryError(explain(exc)) from None

    def _account(self, entry: dict) -> ComputerAccount:
        """The raw values read into an account; a value it cannot use is set aside in bad_values."""
        raw = entry["raw"]
        name = _short((_text(raw.get("sAMAccountName")) or (entry["dn"],))[0])
        check = ValueCheck(name)
        descriptors = check.blobs(RBCD, raw.get(RBCD), lambda b: (rbcd.allowed_sids(b), rbcd.denied_sids(b)),
                                  rbcd.SecurityDescriptorError)
        return ComputerAccount(
            name=name,
            dn=entry["dn"],
            dns_host_name=check.host_name("dNSHostName", raw.get("dNSHostName")),
            spns=check.texts("servicePrincipalName", raw.get("servicePrincipalName")),
            uac=check.integer("userAccountControl", raw.get("userAccountControl")),
            allowed_to_delegate_to=check.texts("msDS-AllowedToDelegateTo", raw.get("msDS-AllowedToDelegateTo")),
            rbcd_principals=tuple(sid for allowed, _denied in descriptors for sid in allowed),
            rbcd_denied=tuple(sid for _allowed, denied in descriptors for sid in denied),
            sid=_sid(raw),
            when_changed=_when(raw.get("whenChanged")),
            attribute_changes=tuple(AttributeChange(attribute=k, changed=v)
                                    for k, v in sorted(replmeta.change_times(raw).items())),
            bad_values=tuple(check.bad),
            enctypes=_int(raw.get("msDS-SupportedEncryptionTypes")),
        )

    def _with_groups(self, accounts: list[ComputerAccount], entries: list[dict]) -> list[ComputerAccount]:
        """Fill in each account's groups (nested, with its primary group) when an RBCD descriptor among them
        names a SID that is none of theirs: one search per nesting level for all accounts together, none
        when every grant names an account directly."""
        named = {sid for a in accounts for sid in a.rbcd_principals + a.rbcd_denied}
        if not named - {a.sid for a in accounts}:
            return accounts
        by_dn = {e["dn"].lower(): e for e in entries}
        seeds: dict[str, tuple[set[str], set[str]]] = {}  # account DN -> (group DNs, primary group SIDs)
        for a in accounts:
            entry = by_dn.get(a.dn.lower(), {"raw": {}})
            primary = _text(entry["raw"].get("primaryGroupID"))
            seeds[a.dn] = ({d.lower() for d in _text(entry["raw"].get("memberOf"))},
                           {f"{a.sid.rsplit('-', 1)[0]}-{primary[0]}"} if a.sid and primary else set())
        groups = self._group_closure({d for dns, _ in seeds.values() for d in dns},
                                     {s for _, sids in seeds.values() for s in sids})
        sid_dn = {sid: dn for dn, (sid, _parents) in groups.items()}
        filled = []
        for a in accounts:
            dns, primary_sids = seeds[a.dn]
            todo, seen = list(dns | {sid_dn[s] for s in primary_sids if s in sid_dn}), set()
            while todo:
                dn = todo.pop()
                if dn not in seen and dn in groups:
                    seen.add(dn)
                    todo += groups[dn][1]
            sids = tuple(sorted({sid for d in seen if (sid := groups[d][0])} | primary_sids))
            filled.append(a.model_copy(update={"group_sids": sids}))
        return filled

    def _group_closure(self, dns: set[str], sids: set[str]) -> dict[str, tuple[str | None, list[str]]]:
        """Group DN (lower) -> (its SID, the DNs of the groups it belongs to), following memberOf upwards."""
        found: dict[str, tuple[str | None, list[str]]] = {}
        for _level in range(MAX_NESTING):
            if not dns and not sids:
                break
            flt = any_of(any_equal("distinguishedName", sorted(dns)), any_equal("objectSid", sorted(sids)))
            for e in self._search(self.base_dn, flt, ["objectSid", "memberOf"]):
                found[e["dn"].lower()] = (_sid(e["raw"]), [d.lower() for d in _text(e["raw"].get("memberOf"))])
            dns = {p for _sid_, parents in found.values() for p in parents} - set(found)
            sids = set()
        return found

    def read_computers(self, names: Iterable[str]) -> list[ComputerAccount]:
        sams = _sams(names)
        if not sams:
            return []
        flt = all_of(COMPUTERS, any_equal("sAMAccountName", sams))
        entries = self._search(self.base_dn, flt, COMPUTER_ATTRIBUTES)
        return self._with_groups([self._account(e) for e in entries], entries)

    def find_spn_owners(self, spns: Iterable[str]) -> dict[str, tuple[str, ...]]:
        wanted = _lookups(spns)
        flt = any_equal("servicePrincipalName", sorted(set(wanted.values())))
        return _owners(wanted, self._search(self.base_dn, flt, ["sAMAccountName", "servicePrincipalName"]))

    def read_cluster(self, names: Iterable[str], spns: Iterable[str], targets: Iterable[str],
                     cluster: str | None = None) -> ClusterView:
        """Three searches, whatever the cluster or directory size: the nodes' and the cluster name
        object's accounts; every other holder of the SPNs; the nodes' DNS records.

        Every term is an indexed equality (sAMAccountName, servicePrincipalName), so the cost does not
        grow with the directory. The SPN search runs on the spare connection, concurrently with the
        other two. Delegators are looked for among the accounts returned: msDS-AllowedToDelegateTo is
        not indexed, and a term on it would make the directory scan every object."""
        names = [n.upper() for n in names]
        if not names:
            return ClusterView(accounts=[], spn_owners={}, delegators=[], dns={})
        node_sams, wanted = _sams(names), _lookups(spns)
        attributes = COMPUTER_ATTRIBUTES + ["objectClass"]
        # the nodes' own accounts hold every SPN asked: the exclusion first lets the DC drop each of them
        # after 64 name comparisons instead of matching its SPNs against the 768 terms (~3 ms at 64 nodes)
        others_filter = all_of(negate(any_equal("sAMAccountName", node_sams)),
                               any_equal("servicePrincipalName", sorted(set(wanted.values()))))
        def on_spare() -> tuple[list[dict], float | None]:
            return (self._search(self.base_dn, others_filter, attributes, SUBTREE, on_spare=True, few=True),
                    self.dc_clock_offset(True))

        with ThreadPoolExecutor(max_workers=1) as pool:
            spare_part = pool.submit(on_spare)
            own = self._search(self.base_dn, all_of(COMPUTERS, any_equal("sAMAccountName",
                                                                       _sams(names + ([cluster] if cluster else [])))),
                               attributes, few=True)
            dns, bad_dns = self._dns_records(names)
            others, clock_offset = spare_part.result()
            entries = list({e["dn"].lower(): e for e in own + others}.values())
        computers = self._with_groups([self._account(e) for e in entries
                                       if "computer" in {c.lower() for c in _text(e["raw"].get("objectClass"))}],
                                      entries)
        nodes, wanted_targets = set(names), {t.lower() for t in targets}
        accounts = [a for a in computers if a.name in nodes]
        delegators = [a for a in computers if any(v.lower() in wanted_targets for v in a.allowed_to_delegate_to)]
        return ClusterView(accounts=accounts, spn_owners=_owners(wanted, entries), delegators=delegators, dns=dns,
                           bad_values=bad_dns, dc_clock_offset_s=clock_offset)

    def dc_clock_offset(self, on_spare: bool = False) -> float | None:
        """The DC's clock minus ours, in seconds, from the RootDSE's currentTime (whole seconds; None if absent)."""
        asked = datetime.now(timezone.utc)
        entries = self._search("", ANY_OBJECT, ["currentTime"], scope=BASE, on_spare=on_spare)
        answered = datetime.now(timezone.utc)
        current = _when(entries[0]["raw"].get("currentTime")) if entries else None
        return None if current is None else (current - (asked + (answered - asked) / 2)).total_seconds()

    def read_operator(self, name: str, how: str) -> OperatorAccount:
        """The user who starts moves: userAccountControl, encryption types, and Protected Users membership
        (nested too) from its tokenGroups. Two searches: the user by UPN or sAMAccountName, then its
        tokenGroups (a constructed attribute, returned only for a base-scope read)."""
        local = name.split("@", 1)[0]
        flt = all_of(equals("objectClass", "user"), negate(COMPUTERS),
                     any_of(equals("userPrincipalName", name), equals("sAMAccountName", local)))
        found = self._search(self.base_dn, flt, OPERATOR_ATTRIBUTES + ["userPrincipalName"])
        if not found:
            return OperatorAccount(name=name, how=how)
        entry = next((e for e in found if name.lower() in {u.lower() for u in _text(e["raw"].get("userPrincipalName"))}),
                     found[0])
        a = entry["raw"]
        sid = _sid(entry["raw"])
        return OperatorAccount(name=name, how=how, dn=entry["dn"], uac=_int(a.get("userAccountControl")) or 0,
                               enctypes=_int(a.get("msDS-SupportedEncryptionTypes")),
                               protected_users=self._in_protected_users(entry["dn"], sid))

    def _in_protected_users(self, dn: str, user_sid: str | None) -> bool | None:
        """Whether the account's token holds <domain SID>-525; None when the token groups cannot be read."""
        entries = self._search(dn, ANY_OBJECT, ["tokenGroups"], scope=BASE)
        groups = {sid_text(b) for b in (entries[0]["raw"].get("tokenGroups") or [])} if entries else set()
        if not groups or not user_sid:
            return None
        return f"{user_sid.rsplit('-', 1)[0]}-{PROTECTED_USERS_RID}" in groups

    def zone_dn(self) -> str:
        return f"DC={self.domain},CN=MicrosoftDNS,DC=DomainDnsZones,{self.base_dn}"

    def read_dns_records(self, names: Iterable[str]) -> dict[str, tuple[DnsRecord, ...]]:
        return self._dns_records(names)[0]

    def _dns_records(self, names: Iterable[str]) -> tuple[dict[str, tuple[DnsRecord, ...]], list[BadValue]]:
        """A records by node, and the blobs that are not MS-DNSP records (set aside)."""
        names = [n.upper() for n in names]
        result: dict[str, tuple[DnsRecord, ...]] = {n: () for n in names}
        bad: list[BadValue] = []
        if not names:
            return result, bad
        flt = all_of(equals("objectClass", "dnsNode"), any_equal("dc", names))
        for e in self._search(self.zone_dn(), flt, ["dc", "dnsRecord"], few=True):
            name = _text(e["raw"].get("dc"))[0].upper()
            check = ValueCheck(name)
            records = check.blobs("dnsRecord", e["raw"].get("dnsRecord"), partial(dnsrecord.parse, name),
                                  dnsrecord.DnsRecordError)
            result[name] = tuple(r for r in records if r is not None)
            bad += check.bad
        return result, bad

    def read_values(self, dn: str, attribute: str) -> tuple[str, ...]:
        entries = self._search(dn, ANY_OBJECT, [attribute], scope=BASE)
        if not entries:
            raise DirectoryError(f"no such object: {dn}")
        if attribute.lower() == rbcd.ATTRIBUTE.lower():  # a binary descriptor: journaled exactly, as base64
            return tuple(base64.b64encode(v).decode() for v in entries[0]["raw"].get(attribute) or [])
        return _text(entries[0]["raw"].get(attribute))

    # --- writes ------------------------------------------------------------------------
    def _modify(self, dn: str, changes: dict) -> None:
        with self._lock:
            try:
                self.round_trips += 1
                self.connection.modify(dn, changes)
            except lx.LDAPException as exc:
                raise DirectoryError(explain(exc)) from None
            r = self.connection.result or {}
            if r.get("result", 0) != 0:
                raise DirectoryError(f"LDAP error {r.get('result')} ({r.get('description')}): {r.get('message')}")

    def add_values(self, dn: str, attribute: str, values: Iterable[str]) -> None:
        values = list(values)
        if values:
            self._modify(dn, {attribute: [(MODIFY_ADD, values)]})

    def remove_values(self, dn: str, attribute: str, values: Iterable[str]) -> None:
        values = list(values)
        if values:
            self._modify(dn, {attribute: [(MODIFY_DELETE, values)]})

    def replace_binary(self, dn: str, attribute: str, before: bytes | None, after: bytes | None) -> None:
        changes = ([(MODIFY_DELETE, [before])] if before else []) + ([(MODIFY_ADD, [after])] if after else [])
        if changes:
            self._modify(dn, {attribute: changes})

    def change_uac(self, dn: str, set_bits: int, clear_bits: int) -> int:
        """Read, OR in / clear bits, write back as delete-old + add-new in one modify.

        The delete of the old value makes the write fail if someone changed it meanwhile."""
        current = self.read_values(dn, "userAccountControl")
        if len(current) != 1:
            raise DirectoryError(f"{dn} has no single userAccountControl value")
        old = int(current[0])
        new = (old | set_bits) & ~clear_bits
        if new != old:
            try:
                self._modify(dn, {"userAccountControl": [(MODIFY_DELETE, [str(old)]), (MODIFY_ADD, [str(new)])]})
            except DirectoryError as exc:
                if "noSuchAttribute" in str(exc) or "no such attribute" in str(exc).lower():
                    raise DirectoryConflict(f"userAccountControl of {dn} changed while writing") from None
                raise
        return new

    def close(self) -> None:
        for conn in (self.connection, self.spare):
            try:
                if conn is not None:
                    conn.unbind()
            except lx.LDAPException:
                pass
