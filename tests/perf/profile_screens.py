"""Every screen a key opens, on a 64-node cluster, in Pilot, without a domain controller: ms per screen (median
of a few presses, each from the key until the screen is on top and the app idle) beside a bare Textual push.

    python tests/perf/profile_screens.py [--only NAME ...] [--profile NAME] [--presses N]

The console runs on the demo lab; its inventory is then replaced by a synthetic 64-node cluster (full
delegation, one VM per node, Kerberos, migration on except on the first node, so there is a finding and a fix
to preview), the same cluster tests/tui uses for the 64-node matrix. With --profile the opens of that screen run
under cProfile and the top functions are printed. A tool for finding costs; the benchmark is bench_triage.py.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from lmdoctor.services.domain.diagnosis import diagnose  # noqa: E402
from lmdoctor.services.domain.models import AuthType, Snapshot, VirtualMachine, VMHostSettings  # noqa: E402
from scripts.console_scenes import make_app, settle  # noqa: E402
from tests.perf.console_keys import SCREENS, bare_textual_timings, cursor_moves, screen_opens  # noqa: E402
from tests.support.snapshots import synthetic  # noqa: E402

NODES = 64


def cluster() -> Snapshot:
    """The synthetic cluster with a host report per node: settings, free memory and one running VM."""
    big = synthetic(NODES)
    nodes = tuple(n.model_copy(update={"host": n.host.model_copy(update={
        "settings": VMHostSettings(migration_enabled=i > 0, auth_type=AuthType.KERBEROS),
        "memory_free": 64 << 30,
        "vms": (VirtualMachine(name=f"VM{n.name}", host=n.name, memory_assigned=4 << 30),)})})
        for i, n in enumerate(big.nodes))
    return big.model_copy(update={"nodes": nodes})


async def drive(lab: Path, only: set[str], profile: str | None,
                presses: int) -> tuple[float, dict[str, tuple[float, float]]]:
    from lmdoctor.tui.widgets.filter_table import FilterTable

    app = make_app(lab)
    big = cluster()
    timings: dict[str, tuple[float, float]] = {}
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot, lambda: app.snapshot is not None)
        app.show_inventory(big, diagnose(big))
        await settle(pilot)
        table = app.screen.query_one(FilterTable).table
        table.focus()
        down = await cursor_moves(pilot, table, presses)
        for name, keys in SCREENS:
            if only and name not in only:
                continue
            profiler = cProfile.Profile() if name == profile else None
            timings[name] = await screen_opens(pilot, app, keys, presses, profiler)
            if profiler:
                profiler.disable()
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(50)
                pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return down * 1000, timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [name for name, _keys in SCREENS]
    parser.add_argument("--only", nargs="*", choices=names, default=[])
    parser.add_argument("--profile", choices=names)
    parser.add_argument("--presses", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        down, timings = asyncio.run(drive(Path(tmp) / "lab", set(args.only), args.profile, args.presses))
    bare_down, (bare_first, bare_push) = bare_textual_timings(NODES, args.presses)
    print(f"bare Textual: ↓ {bare_down * 1000:.0f} ms, push {bare_push * 1000:.0f} ms (first {bare_first * 1000:.0f}); "
          f"↓ on the nodes screen {down:.0f} ms (own {down - bare_down * 1000:.0f})")
    for name, (first, median) in timings.items():
        print(f"{name:12} {median * 1000:6.0f} ms  own {(median - bare_push) * 1000:6.0f} ms  (median of {args.presses}; "
              f"first open {first * 1000:.0f} ms, own {(first - bare_first) * 1000:.0f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
