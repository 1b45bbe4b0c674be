"""The console half of the benchmark, shared by bench_triage.py and profile_screens.py: every screen a key opens,
how a key press is timed in Pilot, and the same harness on a bare Textual app (what Pilot and Textual cost by
themselves, so that lmdoctor's own share can be told apart)."""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time
from collections.abc import Callable

KEY_REPEATS = 9
MOVES = ("down", "up")  # leading keys that move the cursor instead of opening a screen
WAIT_S = 30.0  # a key whose screen never shows (it raised, or the key is unbound) stops the run instead of hanging it

# Every screen a key opens, as reached from the nodes screen: (name, keys; the last one is timed).
SCREENS = (
    ("findings", ("f",)),
    ("node", ("enter",)),
    ("next node", ("down", "enter")),  # browsing: each press opens the node below the one before
    ("fix preview", ("f", "enter")),
    ("matrix", ("x",)),
    ("walkthrough", ("w",)),
    ("journal", ("j",)),
    ("test move", ("m",)),
    ("profiles", ("p",)),
    ("help", ("question_mark",)),
    ("drain", ("d",)),
    ("tour", ("t",)),
)


async def wait_until(pilot, done: Callable[[], bool], what: str) -> None:
    """Pause until `done()`; an error naming `what` after WAIT_S seconds."""
    deadline = time.perf_counter() + WAIT_S
    while not done():
        if time.perf_counter() > deadline:
            raise AssertionError(f"{what}: not seen within {WAIT_S:.0f} s (on {type(pilot.app.screen).__name__})")
        await pilot.pause(0.001)


async def key_round_trip(pilot, key: str, changed: Callable[[], bool]) -> float:
    """Pilot press → the change visible in the app's state → the next refresh; seconds."""
    started = time.perf_counter()
    await pilot.press(key)
    await wait_until(pilot, changed, f"after {key}")
    await pilot.pause()
    return time.perf_counter() - started


async def cursor_moves(pilot, table, repeats: int = KEY_REPEATS) -> float:
    """Median ↓ (the cursor moved) over `repeats` presses."""
    downs = []
    for _ in range(repeats):
        row = table.cursor_row
        downs.append(await key_round_trip(pilot, "down", lambda row=row: table.cursor_row != row))
    return statistics.median(downs)


async def screen_opens(pilot, app, keys: tuple[str, ...], repeats: int = KEY_REPEATS,
                       profiler=None) -> tuple[float, float]:
    """The first, and the median over `repeats`, of the last of `keys` (the ones before it lead there, untimed)
    until the screen it opens is on top and refreshed; then Esc back to where the harness started. A cProfile
    `profiler` is on during the timed part only."""
    home = len(app.screen_stack)
    opens = []
    for _ in range(repeats):
        for key in keys[:-1]:
            depth = len(app.screen_stack)
            await pilot.press(key)
            if key not in MOVES:
                await wait_until(pilot, lambda depth=depth: len(app.screen_stack) > depth, f"a screen after {key}")
            await pilot.pause()
        depth = len(app.screen_stack)
        if profiler:
            profiler.enable()
        opens.append(await key_round_trip(pilot, keys[-1], lambda depth=depth: len(app.screen_stack) > depth))
        if profiler:
            profiler.disable()
        while len(app.screen_stack) > home:
            await pilot.press("escape")
            await pilot.pause(0.001)
        await pilot.pause()
    return opens[0], statistics.median(opens)


def bare_textual_timings(rows: int, repeats: int = KEY_REPEATS) -> tuple[float, tuple[float, float]]:
    """The same harness on a bare Textual app (a DataTable of `rows` rows; f pushes a screen with one, which
    Textual keeps once made): ↓, and the push (first, median), in seconds. It runs in a fresh interpreter, as a
    bare app would: in this process its garbage collector would also walk everything the benchmark left alive."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_bare_textual_here, (rows, repeats))


def _bare_textual_here(rows: int, repeats: int) -> tuple[float, tuple[float, float]]:
    from textual.app import App, ComposeResult
    from textual.binding import Binding
    from textual.screen import Screen
    from textual.widgets import DataTable

    def filled() -> DataTable:
        table: DataTable = DataTable()
        table.add_columns("Node", "State")
        for i in range(rows):
            table.add_row(f"HV{i:02d}", "Up")
        return table

    class Pushed(Screen):
        BINDINGS = [Binding("escape", "app.pop_screen")]

        def compose(self) -> ComposeResult:
            yield filled()

    class Bare(App):
        BINDINGS = [Binding("f", "push_screen('pushed')")]
        SCREENS = {"pushed": Pushed}

        def compose(self) -> ComposeResult:
            yield filled()

    app = Bare()

    async def drive() -> tuple[float, tuple[float, float]]:
        async with app.run_test(size=(160, 50)) as pilot:
            await pilot.pause(0.5)
            return (await cursor_moves(pilot, app.query_one(DataTable), repeats),
                    await screen_opens(pilot, app, ("f",), repeats))

    return asyncio.run(drive())
