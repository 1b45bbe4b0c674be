"""What a change does to a multi-valued attribute: the values it adds, removes and keeps. Values compare
case-insensitively, as the directory compares SPNs and delegation targets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def keys(values: Iterable[str]) -> set[str]:
    """The values as the directory compares them."""
    return {v.lower() for v in values}


def same(a: Iterable[str], b: Iterable[str]) -> bool:
    """The same set of values, whatever their case and order."""
    return keys(a) == keys(b)


@dataclass(frozen=True)
class ValueDiff:
    added: tuple[str, ...]    # in after, not in before (as spelt in after)
    removed: tuple[str, ...]  # in before, not in after (as spelt in before)
    kept: tuple[str, ...]     # in both (as spelt in after)


def diff(before: Iterable[str], after: Iterable[str]) -> ValueDiff:
    before, after = tuple(before), tuple(after)
    had, has = keys(before), keys(after)
    return ValueDiff(added=tuple(v for v in after if v.lower() not in had),
                     removed=tuple(v for v in before if v.lower() not in has),
                     kept=tuple(v for v in after if v.lower() in had))
