"""Crafted callbacks against the real server: gunicorn started with the Procfile's settings on a year of demo data,
eight clients posting worst-case callback requests in a loop for a fixed time, while one client polls /api/stats.

    python scripts/bench_hostile.py                      # this checkout's code, 60 s, bench-data/year.db
    python scripts/bench_hostile.py --code /path/to/other/checkout --seconds 30

Prints /api/stats p50 / p95 / max under that load (and idle, before it), what the crafted requests got (status
codes, the largest answer, their own p50 / p95) and each gunicorn worker's RSS at the start and at its peak.
Targets (issue 12): /api/stats p95 under 200 ms, a worker under 500 MB. Loopback only; the database is built once
(as scripts/bench_dashboard.py builds it) and only read.

The crafted requests (tests/crafted.py builds them from the server's /_dash-dependencies): the heatmap and the time
chart from 1970 to the year 5000, and ranges from a random hour inside the data to the year 5000 (each a new
question, so no cache answers it); the time chart of the whole year stacked by its top 1,000 users; the user x
machine table and its CSV download over the year with 1,000 selected users; and what the API refuses (top="abc",
top=100000, a time zone of ../../etc/passwd, a table with 100,000 selected users).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_dashboard import YEAR_DB, build_year  # noqa: E402

from tests.crafted import CALLBACK_ROUTE, YEAR_5000, body, callbacks, view_store  # noqa: E402

CLIENTS = 8
TARGET_MS = 200.0
TARGET_RSS_MB = 500.0
STORE = "state-view.data"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gunicorn_command(port: int) -> list[str]:
    """The Procfile's web command, bound to loopback on `port`."""
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    command = line.split(":", 1)[1].strip().replace("${PORT:-8050}", str(port)).replace("0.0.0.0", "127.0.0.1")
    parts = re.findall(r"'[^']*'|\S+", command)
    parts = [p.strip("'") for p in parts]
    parts[0] = str(Path(sys.executable).with_name(parts[0]))
    return parts


def request(port: int, method: str, path: str, data: bytes | None = None, timeout: float = 300) -> tuple[int, int]:
    """(status, bytes of the answer) of one request on a fresh connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if data is not None else {}
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        return response.status, len(response.read())
    finally:
        connection.close()


def get_json(port: int, path: str):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request("GET", path)
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


def crafted_requests(port: int, first: int, last: int):
    """A function making the next crafted request body (JSON bytes) and its name, at random among the kinds."""
    known = callbacks(get_json(port, "/_dash-dependencies"))
    heatmap, series = known["heatmap-graph.figure"], known["series-graph.figure"]
    table = next(c for output, c in known.items() if "table-grid.columns" in output)
    download = known["table-download.data"]
    users = [f"user{i:04d}" for i in range(1000)]

    def kinds(rng: random.Random) -> list[tuple[str, dict]]:
        inside = first + rng.randrange(0, max(1, (last - first) // 3600)) * 3600
        return [
            ("heatmap 1970-5000", body(heatmap, {STORE: view_store(preset="custom", start=0, end=YEAR_5000)})),
            ("heatmap inside-5000", body(heatmap, {STORE: view_store(preset="custom", start=inside, end=YEAR_5000)})),
            ("series inside-5000", body(series, {STORE: view_store(preset="custom", start=inside, end=YEAR_5000)})),
            ("series year top 1000", body(series, {STORE: view_store(preset="all", top=1000)})),
            ("table year 1000 users", body(table, {STORE: view_store(preset="all", users=users)})),
            (
                "csv year",
                body(download, {STORE: view_store(preset="all"), "table-csv-button.n_clicks": rng.randint(1, 9)}),
            ),
            ("top=abc", body(series, {STORE: view_store(top="abc")})),
            ("top=100000", body(series, {STORE: view_store(top=100000)})),
            ("tz=../../etc/passwd", body(heatmap, {STORE: view_store(tz="../../etc/passwd")})),
            (
                "table 100000 users",
                body(table, {STORE: view_store(users=[f"u{i}" for i in range(100_000)])}),
            ),
        ]

    def next_request(rng: random.Random) -> tuple[str, bytes]:
        name, payload = rng.choice(kinds(rng))
        return name, json.dumps(payload).encode()

    return next_request


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def poll_stats(port: int, until: float, out: list[float]) -> None:
    while time.monotonic() < until:
        started = time.perf_counter()
        status, _ = request(port, "GET", "/api/stats", timeout=120)
        if status == 200:
            out.append((time.perf_counter() - started) * 1000)
        time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", default=str(ROOT), help="the checkout whose clusterdash gunicorn runs")
    parser.add_argument("--db", default=f"sqlite:///{YEAR_DB}", help="database (default: a year of demo)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the crafted requests run")
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    if args.db == f"sqlite:///{YEAR_DB}" and not YEAR_DB.exists():
        build_year(args.db)

    port = free_port()
    env = {**os.environ, "PYTHONPATH": args.code, "CLUSTERDASH_DB": args.db, "CLUSTERDASH_REFRESH": "3600"}
    log = open(ROOT / "bench-data" / "bench_hostile.log", "w")  # noqa: SIM115 (the server's, for its lifetime)
    server = subprocess.Popen(gunicorn_command(port), cwd=args.code, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if request(port, "GET", "/api/stats", timeout=60)[0] == 200:
                    break
            except OSError:
                time.sleep(0.5)
        else:
            print("the server did not start: see bench-data/bench_hostile.log")
            return 2
        master = psutil.Process(server.pid)
        stats = get_json(port, "/api/stats")
        first, last = stats["range"]["start_epoch"], stats["range"]["end_epoch"]
        next_request = crafted_requests(port, first, last)
        for _ in range(4):  # both workers warm: imports, plotly, the page
            request(port, "GET", "/")
        idle: list[float] = []
        poll_stats(port, time.monotonic() + 5, idle)
        workers = {p.pid: p for p in master.children()}
        start_rss = {pid: p.memory_info().rss for pid, p in workers.items()}
        peak_rss = dict(start_rss)
        print(
            f"gunicorn (the Procfile's settings) on 127.0.0.1:{port}, code {args.code}, {stats['blocks']:,} hours; "
            f"{CLIENTS} clients for {args.seconds:.0f} s"
        )

        until = time.monotonic() + args.seconds
        results: list[tuple[str, int, int, float]] = []
        lock = threading.Lock()

        def client(seed: int) -> None:
            rng = random.Random(seed)
            while time.monotonic() < until:
                name, data = next_request(rng)
                started = time.perf_counter()
                try:
                    status, size = request(port, "POST", CALLBACK_ROUTE, data)
                except OSError as exc:
                    status, size = -1, len(str(exc))
                with lock:
                    results.append((name, status, size, (time.perf_counter() - started) * 1000))

        def watch() -> None:
            while time.monotonic() < until + 1:
                for pid, p in list(workers.items()):
                    try:
                        peak_rss[pid] = max(peak_rss.get(pid, 0), p.memory_info().rss)
                    except psutil.NoSuchProcess:
                        workers.pop(pid)
                for p in master.children():  # a worker restarted by gunicorn
                    workers.setdefault(p.pid, p)
                time.sleep(0.1)

        loaded: list[float] = []
        threads = [threading.Thread(target=client, args=(args.seed + i,)) for i in range(CLIENTS)]
        threads += [
            threading.Thread(target=poll_stats, args=(port, until, loaded)),
            threading.Thread(target=watch),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        print(f"\n/api/stats idle:   p50 {percentile(idle, 0.5):7.1f}  p95 {percentile(idle, 0.95):7.1f} ms")
        print(
            f"/api/stats loaded: p50 {percentile(loaded, 0.5):7.1f}  p95 {percentile(loaded, 0.95):7.1f}  "
            f"max {max(loaded, default=float('nan')):7.1f} ms  ({len(loaded)} polls; target p95 < {TARGET_MS:.0f})"
        )
        print(f"\n{'crafted request':<24} {'count':>5}  {'statuses':<18} {'largest':>10} {'p50 ms':>8} {'p95 ms':>8}")
        for name in sorted({r[0] for r in results}):
            mine = [r for r in results if r[0] == name]
            statuses = ",".join(f"{s}x{n}" for s, n in sorted(_count(r[1] for r in mine).items()))
            largest = max(r[2] for r in mine)
            times = [r[3] for r in mine]
            print(
                f"{name:<24} {len(mine):>5}  {statuses:<18} {largest / 1e6:>8.2f}MB "
                f"{percentile(times, 0.5):8.0f} {percentile(times, 0.95):8.0f}"
            )
        print("\nworker RSS (MB): start -> peak")
        for pid in sorted(peak_rss):
            print(f"  pid {pid}: {start_rss.get(pid, 0) / 2**20:7.0f} -> {peak_rss[pid] / 2**20:7.0f}")
        worst = max(peak_rss.values()) / 2**20
        print(f"peak worker RSS {worst:.0f} MB (target < {TARGET_RSS_MB:.0f}); load average {os.getloadavg()[0]:.1f}")
        return 0 if percentile(loaded, 0.95) < TARGET_MS and worst < TARGET_RSS_MB else 1
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _count(values) -> dict:
    counts: dict = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return counts


if __name__ == "__main__":
    sys.exit(main())
