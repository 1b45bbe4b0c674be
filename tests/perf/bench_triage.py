"""Triage benchmark against a real Samba AD DC: lmdoctor's inventory + diagnosis vs the runbook's LDAP method.

    python tests/perf/bench_triage.py [--quick]

Starts its own DC (tests/samba/harness.py; needs root and `ip netns`), creates three healthy clusters of
N = 4, 16 and 64 nodes (full-mesh delegation, DNS records), then M = 0, 5000 and 20000 unrelated
computer objects with SPNs (bulk-loaded offline, tests/perf/bulk_load.py). For every (N, M) it times,
on one ldap3 connection:

(a) lmdoctor: ``take_snapshot`` (directory part; host reports already in memory) + ``diagnose``;
(b) the runbook: one search per host (``Get-ADComputer -Properties msDS-AllowedToDelegateTo`` +
    ``setspn -L``) and a paged scan of every SPN in the directory for duplicates (``setspn -X``),

counting LDAP round trips with ldap3's own usage statistics. Then the host side (the lab host gateway
with a fixed 200 ms per call: 64 hosts concurrently vs the serial sum) and the console (Pilot: launch →
nodes table painted with 64 rows, ↓ → cursor moved, and each key that opens a screen → that screen shown, beside
a bare Textual app in the same harness). Ends with one summary line.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from ldap3 import SUBTREE  # noqa: E402
from ldap3.utils.conv import escape_filter_chars  # noqa: E402

from lmdoctor.services.backends.directory.connect import connect  # noqa: E402
from lmdoctor.services.backends.directory.ldap import LdapDirectory  # noqa: E402
from lmdoctor.services.backends.lab.hosts import LabHostGateway  # noqa: E402
from lmdoctor.services.backends.lab.state import LabStore  # noqa: E402
from lmdoctor.services.domain.diagnosis import diagnose  # noqa: E402
from lmdoctor.services.domain.models import ClusterNode, HostReport  # noqa: E402
from lmdoctor.services.domain.spn import spn_key  # noqa: E402
from lmdoctor.services.operations.inventory import take_snapshot  # noqa: E402
from lmdoctor.services.storage.journal import Journal  # noqa: E402
from lmdoctor.services.storage.profiles import Profile  # noqa: E402
from tests.perf.console_keys import KEY_REPEATS, SCREENS, bare_textual_timings, cursor_moves, screen_opens  # noqa: E402
from tests.samba.harness import ADMIN_PASSWORD, COMPUTERS_DN, SambaDC, provision_template  # noqa: E402
from tests.samba.scenarios import MemoryHosts, create_clusters, lab_hosts, node_names  # noqa: E402

DOMAIN = "contoso.local"
SIZES = (4, 16, 64)
OTHERS = (0, 5000, 20000)
HOST_DELAY = 0.2
REPEATS = 3
BULK_LOAD = Path(__file__).with_name("bulk_load.py")


def rss_mb() -> float:
    """Peak resident set size of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------- population


def bulk_load(dc: SambaDC, first: int, count: int) -> float:
    """Add `count` unrelated computers offline (DC stopped), restart; returns the seconds it took."""
    started = time.monotonic()
    dc.stop()
    proc = subprocess.run(["/usr/bin/python3", str(BULK_LOAD), str(dc.domain_partition_file),
                           f"CN=PROTO,{COMPUTERS_DN}", str(first), str(count)],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"bulk load failed: {proc.stderr.strip()[-2000:]}")
    print(f"  {proc.stdout.strip().splitlines()[-1]}", flush=True)
    dc.restart()
    return time.monotonic() - started


# --------------------------------------------------------------------------- hosts


class SlowLabHosts(LabHostGateway):
    """The lab host gateway with a fixed delay per remote call (a WinRM round trip)."""

    def __init__(self, store: LabStore, directory: LdapDirectory, delay: float) -> None:
        super().__init__(store, directory, step_delay=0)
        self.delay = delay

    def cluster_nodes(self) -> list[ClusterNode]:
        time.sleep(self.delay)
        return super().cluster_nodes()

    def host_report(self, host: str) -> HostReport:
        time.sleep(self.delay)
        return super().host_report(host)


class ConsoleHosts:
    """What the console asks the hosts: the reports from memory, one node with live migration off (so there is a
    finding, and a fix to preview); anything else (Compare-VM for the drain screen…) from the lab host gateway."""

    def __init__(self, memory: MemoryHosts, gateway: LabHostGateway, off: str) -> None:
        self.memory, self.gateway = memory, gateway
        report = memory.reports[off]
        assert report.settings is not None
        self.reports = {**memory.reports, off: report.model_copy(
            update={"settings": report.settings.model_copy(update={"migration_enabled": False})})}

    def cluster_nodes(self) -> list[ClusterNode]:
        return self.memory.cluster_nodes()

    def host_report(self, host: str) -> HostReport:
        return self.reports[host]

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> object:
        return getattr(self.gateway, name)


# --------------------------------------------------------------------------- the two methods


def searches(directory: LdapDirectory) -> int:
    return directory.search_operations()


def lmdoctor_triage(directory: LdapDirectory, hosts: MemoryHosts, cluster: str) -> int:
    """Inventory + diagnosis; returns the number of findings."""
    return len(diagnose(take_snapshot(directory, hosts, cluster)))


def runbook_triage(directory: LdapDirectory, names: list[str]) -> int:
    """Per host: its SPNs and delegation; then every SPN in the directory for duplicates (setspn -X).
    Returns the number of problems it sees (missing pairs + duplicated SPNs)."""
    conn, base = directory.connection, directory.base_dn
    delegation: dict[str, set[str]] = {}
    for name in names:
        conn.search(base, f"(sAMAccountName={escape_filter_chars(name)}$)", SUBTREE,
                    attributes=["servicePrincipalName", "msDS-AllowedToDelegateTo", "userAccountControl"])
        entry = next(e for e in conn.response if e.get("type") == "searchResEntry")
        delegation[name] = {v.lower() for v in entry["attributes"].get("msDS-AllowedToDelegateTo", [])}
    holders: dict[str, set[str]] = {}
    for e in conn.extend.standard.paged_search(base, "(servicePrincipalName=*)", SUBTREE,
                                               attributes=["sAMAccountName", "servicePrincipalName"],
                                               paged_size=1000, generator=True):
        if e.get("type") == "searchResEntry":
            for spn in e["attributes"].get("servicePrincipalName", []):
                holders.setdefault(spn_key(spn), set()).add(e["dn"])
    missing = sum(1 for src in names for dst in names
                  if src != dst and f"cifs/{dst.lower()}.{DOMAIN}" not in delegation[src])
    return missing + sum(1 for owners in holders.values() if len(owners) > 1)


def measure(directory: LdapDirectory, run: Callable[[], int]) -> tuple[float, int, int]:
    """Median wall time of REPEATS runs, the round trips of one run, and its result."""
    times, trips, result = [], 0, 0
    for _ in range(REPEATS):
        before, started = searches(directory), time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
        trips = searches(directory) - before
    return statistics.median(times), trips, result


# --------------------------------------------------------------------------- console


def console_timings(directory: LdapDirectory, hosts: ConsoleHosts, cluster: str,
                    root: Path) -> tuple[float, float, dict[str, tuple[float, float]]]:
    """Pilot: launch → nodes table painted with every node; median ↓ → cursor moved; for each screen, the
    median key → screen shown."""
    from lmdoctor.services.operations.session import Session
    from lmdoctor.tui.app import LmDoctorApp
    from lmdoctor.tui.widgets.filter_table import FilterTable

    session = Session(label=f"bench · {DOMAIN} · {cluster}", demo=False, cluster=cluster, directory=directory,
                      hosts=hosts, journal=Journal(root / "journal.jsonl"))
    app = LmDoctorApp(session)
    size = len(hosts.cluster_nodes())

    async def drive() -> tuple[float, float, dict[str, tuple[float, float]]]:
        started = time.perf_counter()
        async with app.run_test(size=(160, 50)) as pilot:
            table = app.screen.query_one(FilterTable).table
            while table.row_count < size:
                await pilot.pause(0.005)
            first_paint = time.perf_counter() - started
            await pilot.pause(0.5)
            down = await cursor_moves(pilot, table)
            screens = {name: await screen_opens(pilot, app, keys) for name, keys in SCREENS}
        return first_paint, down, screens

    return asyncio.run(drive())


# --------------------------------------------------------------------------- main


def open_directory(dc: SambaDC) -> LdapDirectory:
    profile = Profile(name="bench", domain=DOMAIN, dc=dc.hostname, ca_file=dc.ca_file,
                      bind_user="Administrator@contoso.local", cluster="C64", timeout_s=60)
    with dc.inside():
        return connect(profile, ADMIN_PASSWORD, address=dc.ip)


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown CPU")
    return f"{os.cpu_count()} CPUs ({model}), Python {sys.version.split()[0]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="M = 0 and 2000 only (a smoke run)")
    parser.add_argument("--keep", action="store_true", help="keep the DC's work directory")
    args = parser.parse_args()
    others = (0, 2000) if args.quick else OTHERS
    print(f"machine: {machine()}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="lmdperf-"))
    started = time.monotonic()
    template = provision_template(work)
    dc = SambaDC.start(template, work, "bench")
    rows: list[dict] = []
    try:
        print(f"DC provisioned and started in {time.monotonic() - started:.1f} s", flush=True)
        print(f"created clusters of {', '.join(map(str, SIZES))} nodes in {create_clusters(dc, SIZES):.1f} s", flush=True)
        stores = {n: lab_hosts(n, work / "labs") for n in SIZES}
        loaded, population = 0, {0: 0.0}
        directory = open_directory(dc)
        memory = {n: MemoryHosts(LabHostGateway(stores[n], directory, step_delay=0)) for n in SIZES}
        for m in others:
            if m > loaded:
                directory.close()
                population[m] = bulk_load(dc, loaded, m - loaded)
                print(f"populated {m - loaded} unrelated computers in {population[m]:.1f} s (DC stop/start included)",
                      flush=True)
                loaded = m
                directory = open_directory(dc)
            for n in SIZES:
                names, cluster = node_names(n), f"C{n}"
                a_s, a_rt, a_found = measure(directory, lambda d=directory, n=n, c=cluster: lmdoctor_triage(d, memory[n], c))
                b_s, b_rt, b_found = measure(directory, lambda d=directory, names=names: runbook_triage(d, names))
                rows.append(dict(n=n, m=m, a_s=a_s, a_rt=a_rt, b_s=b_s, b_rt=b_rt, ratio=b_s / a_s, rss=rss_mb(),
                                 a_found=a_found, b_found=b_found))
                print(f"  N={n:<3} M={m:<6} lmdoctor {a_s * 1000:8.1f} ms {a_rt:3d} trips ({a_found} findings) | "
                      f"runbook {b_s * 1000:8.1f} ms {b_rt:4d} trips ({b_found} problems) | x{b_s / a_s:6.1f}",
                      flush=True)
        slow = SlowLabHosts(stores[64], directory, HOST_DELAY)
        t0 = time.perf_counter()
        snapshot = take_snapshot(directory, slow, "C64")
        hosts_s = time.perf_counter() - t0
        serial_s = (len(snapshot.nodes) + 1) * HOST_DELAY
        os.environ["LMDOCTOR_CONFIG_DIR"] = str(work / "config")  # the console's profiles and journal: its own
        os.environ["LMDOCTOR_DATA_DIR"] = str(work / "data")
        console_hosts = ConsoleHosts(memory[64], LabHostGateway(stores[64], directory, step_delay=0), "C64N01")
        first_paint, down, screens = console_timings(directory, console_hosts, "C64", work)
        bare_down, (bare_first, bare_push) = bare_textual_timings(64)
        directory.close()
    finally:
        dc.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print("| N | M | lmdoctor ms | round trips | runbook ms | round trips | runbook/lmdoctor | peak RSS MiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['n']} | {r['m']} | {r['a_s'] * 1000:.1f} | {r['a_rt']} | {r['b_s'] * 1000:.1f} | {r['b_rt']} | "
              f"{r['ratio']:.1f}× | {r['rss']:.0f} |")
    print()
    print("population: " + ", ".join(f"M={m}: {s:.1f} s" for m, s in population.items() if m))
    print(f"hosts: 64-host inventory with {HOST_DELAY * 1000:.0f} ms per call: {hosts_s:.2f} s "
          f"(serial sum {serial_s:.1f} s, {serial_s / hosts_s:.1f}× faster)")
    print(f"console: first paint of 64 nodes {first_paint:.2f} s; key → screen update (median of {KEY_REPEATS} "
          f"Pilot round trips); the same harness on a bare Textual app (a 64-row DataTable; a key pushes a screen "
          f"with one, kept once made): ↓ {bare_down * 1000:.0f} ms, push {bare_push * 1000:.0f} ms "
          f"(its first push {bare_first * 1000:.0f} ms)")
    print()
    print("| key → | lmdoctor ms | bare Textual ms | lmdoctor's own ms | first open ms | first open, own ms |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| ↓ (cursor) | {down * 1000:.0f} | {bare_down * 1000:.0f} | {(down - bare_down) * 1000:.0f} | | |")
    for name, keys in SCREENS:
        first, median = screens[name]
        print(f"| {' then '.join(keys)} → {name} | {median * 1000:.0f} | {bare_push * 1000:.0f} | "
              f"{(median - bare_push) * 1000:.0f} | {first * 1000:.0f} | {(first - bare_first) * 1000:.0f} |")
    print()
    print(f"total run {time.monotonic() - started:.0f} s")
    last = max(rows, key=lambda r: (r["m"], r["n"]))
    trips = {r["a_rt"] for r in rows}
    worst = max(screens, key=lambda name: screens[name][1])
    own = screens[worst][1] - bare_push
    print(f"peak RSS: {last['rss']:.0f} MiB after the N={last['n']}, M={last['m']} cell (the last line's rss_mb); "
          f"{rss_mb():.0f} MiB for the whole process after the console part")
    print(f"round trips per triage: {'constant, ' if len(trips) == 1 else 'NOT constant: '}{sorted(trips)}")
    print(f"triage_s={last['a_s']:.3f} naive_s={last['b_s']:.3f} ratio={last['ratio']:.1f} "
          f"min_ratio={min(r['ratio'] for r in rows):.1f} round_trips={max(trips)} first_paint_s={first_paint:.2f} "
          f"key_ms={screens[worst][1] * 1000:.0f} key_own_ms={own * 1000:.0f} "
          f"worst_screen={worst.replace(' ', '_')}:{own * 1000:.0f} rss_mb={last['rss']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
