"""The console moves its long-lived heap out of the collector's walk at quiet moments (tui/heap.py), and frees
what it froze once it is garbage: nothing frozen stays for good, and nothing stays frozen after the console."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from lmdoctor.tui import heap
from scripts.console_scenes import make_app, settle


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_a_cycle_frozen_with_the_heap_is_collected_at_the_next_settle():
    try:
        cycle = Cycle()
        gone = weakref.ref(cycle)
        heap.freeze_new()
        del cycle
        gc.collect()  # a frozen cycle is not walked: it is still there
        assert gone() is not None
        heap.settle()
        assert gone() is None
    finally:
        heap.release()


async def test_the_console_freezes_after_an_inventory_and_a_new_screen_and_releases_on_exit(tmp_path: Path):
    app = make_app(tmp_path / "lab")
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        assert gc.get_freeze_count() == 0  # not while the inventory is first painted
        await settle(pilot, lambda: gc.get_freeze_count() > 0)  # SETTLE_AFTER_S later
        frozen = gc.get_freeze_count()
        walked = len(gc.get_objects())
        assert walked < frozen  # a full collection walks a small part of what is alive

        await pilot.press("x")  # the matrix: made once, kept
        await settle(pilot, lambda: type(app.screen).__name__ == "MatrixScreen")
        await pilot.pause(0.1)
        assert gc.get_freeze_count() > frozen
    assert gc.get_freeze_count() == 0
