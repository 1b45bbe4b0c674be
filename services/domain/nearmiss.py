"""Near-miss delegation values: almost a needed SPN, so they cover nothing (the KDC compares exact names)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lmdoctor.services.domain.safetext import visible
from lmdoctor.services.domain.spn import Spn, SpnError, spn_key

TYPO_CUTOFF = 0.85  # difflib ratio: one or two characters off in a value of ~20


@dataclass(frozen=True)
class NearMiss:
    value: str
    meant: str | None  # the needed value it most likely stands for; None when nothing fits
    why: str

    def describe(self) -> str:
        meant = f"; most likely meant {self.meant}" if self.meant else ""
        return f"“{visible(self.value)}” covers nothing ({self.why}){meant}"


def _tidied(value: str) -> str:
    """The value with the slips a KDC does not forgive undone: spaces, backslash, trailing dots, a port."""
    text = value.strip().replace("\\", "/")
    service, _, rest = text.partition("/")
    host = rest.split("/", 1)[0].split(":", 1)[0].rstrip(".")
    return f"{service.strip()}/{host}"


def _why(value: str, tidied_matches: bool) -> str:
    try:
        parsed = Spn.parse(value)
    except SpnError as exc:
        return str(exc).replace(f"SPN {value[:60]!r} ", "").replace("is not", "not") or "not an SPN"
    if value != value.strip():
        return "leading or trailing spaces"
    if "\\" in value:
        return "a backslash instead of '/'"
    if parsed.host.endswith("."):
        return "a trailing dot after the host name"
    if parsed.port:
        return f"a port (:{parsed.port}) the migration SPNs do not have"
    return "a typo" if not tidied_matches else "a slip in the name"


def near_misses(values: Iterable[str], wanted: Sequence[str], lacking: Sequence[str] = ()) -> list[NearMiss]:
    """The values among `values` that are not one of `wanted` but most likely meant one (or are no SPN at all).

    `lacking` (the wanted values the holder does not have) are preferred as what a value meant, each used
    once. A value that names some other service or host plainly (cifs/FILESERVER) is no near miss."""
    wanted_keys = {spn_key(w) for w in wanted}
    strays = [value for value in values if spn_key(value) not in wanted_keys]
    if not strays:  # every value names a wanted SPN: nothing can be a near miss
        return []
    pool = list(dict.fromkeys(list(lacking) + list(wanted)))
    found = []
    for value in strays:
        meant = _tidied_match(value, pool)
        tidied = meant is not None
        if meant is None:
            meant = _typo_match(value, pool)
        malformed = _malformed(value)
        if meant is None and malformed:
            meant = _same_service(value, pool)
        if meant is None and not malformed:
            continue
        if meant in lacking and meant in pool:
            pool.remove(meant)  # each lacking value explains one near miss; later ones look further
            pool.append(meant)
        found.append(NearMiss(value=value, meant=meant, why=_why(value, tidied)))
    return found


def _malformed(value: str) -> bool:
    try:
        Spn.parse(value)
    except SpnError:
        return True
    return False


def _tidied_match(value: str, pool: Sequence[str]) -> str | None:
    key = _tidied(value).lower()
    return next((w for w in pool if spn_key(w) == key), None)


def _squash(name: str) -> str:
    """A host name without case, punctuation or zero padding: HV2, hv-02 and HV02 squash alike, HV03 not."""
    return re.sub(r"0+(?=\d)", "", re.sub(r"[^0-9a-z]", "", name.lower()))


def _close(a: str, b: str) -> bool:
    return a.lower() == b.lower() or difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio() >= TYPO_CUTOFF


def _typo_match(value: str, pool: Sequence[str]) -> str | None:
    """A needed value with the same host (up to padding and punctuation) and a service or domain one slip
    away. Another host's number (HV03 for HV02) is no typo: it names another machine."""
    service, _, host = _tidied(value).partition("/")
    short, _, domain = host.partition(".")
    for wanted in pool:
        w_service, _, w_host = wanted.partition("/")
        w_short, _, w_domain = w_host.partition(".")
        if (_squash(short) == _squash(w_short) and bool(domain) == bool(w_domain) and _close(service, w_service)
                and _close(domain, w_domain)):
            return wanted
    return None


def _same_service(value: str, pool: Sequence[str]) -> str | None:
    service = value.strip().split("/", 1)[0].lower()
    return next((w for w in pool if w.split("/", 1)[0].lower() == service), None) if service else None
