"""Which searches are paged: the cluster's (a few entries each, one per name asked) go without the
paged-results control, which makes Samba read every entry twice; a DC that still cuts such an answer
at its size limit (AD: MaxPageSize, 1 000 by default) is asked again in pages and nothing is lost.

"Searches of Active Directory performed without paging are limited to returning a maximum of the first
1000 records" (Microsoft, Retrieving Large Results Sets:
https://learn.microsoft.com/en-us/windows/win32/adsi/retrieving-large-results-sets); past it the DC
answers sizeLimitExceeded."""

from __future__ import annotations

import pytest
from ldap3.core.results import RESULT_SIZE_LIMIT_EXCEEDED, RESULT_SUCCESS

from lmdoctor.services.backends.directory import ldap as ldap_module
from lmdoctor.services.backends.directory.filters import equals
from lmdoctor.services.backends.directory.ldap import PAGE_SIZE, LdapDirectory


class Dc:
    """A connection's stand-in: what each search asked for (its page size), and the last result."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, int | None]] = []
        self.result: dict | None = None


def serving(entries: list[dict], size_limit: int):
    """`wire.search` over `entries`: unpaged answers stop at `size_limit` with sizeLimitExceeded."""
    def search(conn, base, flt, scope, attributes, paged_size=None, paged_cookie=None):
        conn.asked.append((scope, paged_size))
        if paged_size is None:
            conn.result = {"result": RESULT_SIZE_LIMIT_EXCEEDED if len(entries) > size_limit else RESULT_SUCCESS}
            return entries[:size_limit], None
        start = int(paged_cookie or b"0")
        conn.result = {"result": RESULT_SUCCESS}
        end = start + paged_size
        return entries[start:end], str(end).encode() if end < len(entries) else None
    return search


def computers(count: int) -> list[dict]:
    return [{"dn": f"CN=PC{i},CN=Computers,DC=contoso,DC=local", "raw": {"sAMAccountName": [f"PC{i}$".encode()]}}
            for i in range(count)]


def test_the_cluster_searches_go_unpaged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ldap_module.wire, "search", serving([], 1000))
    main, spare = Dc(), Dc()
    directory = LdapDirectory(main, "contoso.local", spare=spare)  # type: ignore[arg-type]
    directory.read_cluster(["HV01", "HV02"], ["HOST/HV01", "HOST/HV02"], ["cifs/HV02"], "HVCLUSTER")
    assert main.asked == [("SUBTREE", None), ("SUBTREE", None)]  # the accounts, the DNS records
    assert spare.asked == [("SUBTREE", None), ("BASE", None)]  # the other SPN holders, the RootDSE clock


def test_an_answer_cut_at_the_size_limit_is_asked_again_in_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    every = computers(2 * PAGE_SIZE + 200)
    monkeypatch.setattr(ldap_module.wire, "search", serving(every, 1000))
    dc = Dc()
    directory = LdapDirectory(dc, "contoso.local")  # type: ignore[arg-type]
    found = directory._search(directory.base_dn, equals("objectClass", "computer"), ["sAMAccountName"], few=True)
    assert found == every
    assert dc.asked == [("SUBTREE", None)] + [("SUBTREE", PAGE_SIZE)] * 3
    assert directory.round_trips == 4


def test_other_searches_stay_paged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ldap_module.wire, "search", serving(computers(3), 1000))
    dc = Dc()
    directory = LdapDirectory(dc, "contoso.local")  # type: ignore[arg-type]
    directory.find_spn_owners(["HOST/PC1"])
    assert dc.asked == [("SUBTREE", PAGE_SIZE)]
