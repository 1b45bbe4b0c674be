"""Opening the matrix and drain screens on a 64-node cluster, in Pilot, without a domain controller: ms per
screen (median of a few presses, each from the key until the screen is on top and the app idle).

    python tests/perf/profile_screens.py [--profile matrix|drain]

The console runs on the demo lab; its inventory is then replaced by a synthetic 64-node cluster (full
delegation, one VM per node, Kerberos, migration on), the same one tests/tui uses for the 64-node matrix.
With --profile the opens of that screen run under cProfile and the top functions are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from lmdoctor.services.domain.diagnosis import diagnose  # noqa: E402
from lmdoctor.services.domain.models import AuthType, Snapshot, VirtualMachine, VMHostSettings  # noqa: E402
from lmdoctor.tui.console import Inventory  # noqa: E402
from scripts.console_scenes import FIXED_NOW, make_app, settle  # noqa: E402
from tests.support.snapshots import synthetic  # noqa: E402

NODES = 64
PRESSES = 5
SCREENS = {"matrix": "x", "drain": "d"}


def cluster() -> Snapshot:
    """The synthetic cluster with a host report per node: settings, free memory and one running VM."""
    big = synthetic(NODES)
    settings = VMHostSettings(migration_enabled=True, auth_type=AuthType.KERBEROS)
    nodes = tuple(n.model_copy(update={"host": n.host.model_copy(update={
        "settings": settings, "memory_free": 64 << 30,
        "vms": (VirtualMachine(name=f"VM{n.name}", host=n.name, memory_assigned=4 << 30),)})})
        for n in big.nodes)
    return big.model_copy(update={"nodes": nodes})


async def open_screen(pilot, key: str) -> float:
    """One press of `key` until a screen is pushed and the app is idle; then back; seconds."""
    app = pilot.app
    depth = len(app.screen_stack)
    started = time.perf_counter()
    await pilot.press(key)
    while len(app.screen_stack) == depth:
        await pilot.pause(0.001)
    await pilot.pause()
    elapsed = time.perf_counter() - started
    await pilot.press("escape")
    await settle(pilot, lambda: len(app.screen_stack) == depth)
    return elapsed


async def drive(lab: Path, profile: str | None) -> dict[str, float]:
    app = make_app(lab)
    big = cluster()
    timings: dict[str, float] = {}
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        app.inventory = Inventory(big, diagnose(big), FIXED_NOW)
        await settle(pilot)
        for name, key in SCREENS.items():
            profiler = cProfile.Profile() if name == profile else None
            runs = []
            for _ in range(PRESSES):
                if profiler:
                    profiler.enable()
                runs.append(await open_screen(pilot, key))
                if profiler:
                    profiler.disable()
            timings[name] = statistics.median(runs) * 1000
            if profiler:
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted(SCREENS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        timings = asyncio.run(drive(Path(tmp) / "lab", args.profile))
    for name, ms in timings.items():
        print(f"{SCREENS[name]} → {name}: {ms:.0f} ms (median of {PRESSES}, {NODES} nodes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
