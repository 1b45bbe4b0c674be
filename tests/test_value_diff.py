"""The one added/removed/kept comparison every part of lmdoctor uses: case-insensitive, as AD compares values."""

from __future__ import annotations

from lmdoctor.services.domain.value_diff import ValueDiff, diff, keys, same


def test_values_compare_case_insensitively_and_keep_their_spelling() -> None:
    change = diff(("cifs/HV02", "Microsoft Virtual System Migration Service/HV02"),
                  ("CIFS/HV02", "cifs/HV03"))
    assert change.added == ("cifs/HV03",)
    assert change.removed == ("Microsoft Virtual System Migration Service/HV02",)
    assert change.kept == ("CIFS/HV02",)  # as spelt after the change


def test_no_change_and_same_sets() -> None:
    assert diff(("a", "B"), ("b", "A")) == ValueDiff(added=(), removed=(), kept=("b", "A"))
    assert same(("a", "B"), ["b", "A"]) and not same(("a",), ("a", "b"))
    assert keys(["X/Y", "x/y"]) == {"x/y"}
