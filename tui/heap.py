"""Keeps the garbage collector's full passes off the keys.

A full (generation 2) collection walks every object CPython tracks, with the event loop stopped. With the
modules, Textual, the kept screens and a 64-node inventory alive, one took 60-120 ms, and in
tests/perf/profile_screens.py one fell inside about one key press in seven. Nearly all of that heap lives as long
as the console or the inventory, so at quiet moments it is moved out of the collector's walk (`gc.freeze`, as
Python's gc documentation describes). Reference counting still frees frozen objects; only a reference cycle
among them waits for the next `settle`, which collects everything first."""

from __future__ import annotations

import gc


def settle() -> None:
    """A quiet moment (a new inventory is on screen): one full collection, then freeze what is still alive."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def freeze_new() -> None:
    """Something long-lived was just built (a kept screen): freeze it too, without a full walk."""
    gc.freeze()


def release() -> None:
    """The console is closing: everything is collected normally again."""
    gc.unfreeze()
