#!/usr/bin/env python3
"""Benchmarks: print the figures behind the speed and memory targets (tests check behaviour, not time).

    python scripts/bench.py ingest      # first ingest and re-ingest of a month and a year, vs a naive loader
    python scripts/bench.py wide        # one hour of 50,000 distinct users (--users): time and peak RSS
    python scripts/bench.py all         # every part that is present (ingest, follow, queries, dashboard)

Data is generated with the demo generator into bench-data/ (git-ignored) and reused across runs.
Each measured ingest runs in a fresh subprocess so that its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench-data"
sys.path.insert(0, str(ROOT))

INGEST_ONCE = r"""
import json, resource, sys, time
from clusterdash.db.engine import make_engine
from clusterdash.db.setup import prepare_database
from clusterdash.ingest.pipeline import ingest_paths
engine = make_engine(sys.argv[1]); prepare_database(engine, "UTC")
start = time.perf_counter()
report = ingest_paths(engine, [sys.argv[2]], progress=False)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rows": report.total("rows"), "new_rows": report.added.rows,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def demo_log(days: int, seed: int = 0) -> Path:
    from clusterdash.ingest.demo import write_demo_log

    path = DATA / f"demo-{days}d-seed{seed}.log"
    if not path.exists():
        DATA.mkdir(exist_ok=True)
        print(f"  generating {path.name} ...", flush=True)
        write_demo_log(path.with_suffix(".tmp"), days=days, seed=seed)
        path.with_suffix(".tmp").rename(path)
    return path


def fresh_db(name: str) -> Path:
    db = DATA / name
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    return db


def run_ingest(db: Path, log: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", INGEST_ONCE, f"sqlite:///{db}", str(log)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def naive_ingest(db: Path, log: Path) -> float:
    """The straightforward design, for comparison: a regex per line, a SELECT and an INSERT per row."""
    header = re.compile(r"^@(rd|wr)_client\(([^,]+),([^)]+)\)\[([^\](]+)")
    row = re.compile(r"^([\[(].*?[\])])\s*(\d+)")
    conn = sqlite3.connect(db)
    conn.executescript("""
        CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT UNIQUE);
        CREATE TABLE machines(id INTEGER PRIMARY KEY, name TEXT UNIQUE, type TEXT);
        CREATE TABLE ops(epoch INT, dir TEXT, user_id INT, machine_id INT, bucket TEXT, count INT,
                         UNIQUE(epoch, dir, user_id, machine_id, bucket));""")
    start = time.perf_counter()
    epoch = key = None
    with open(log) as lines:
        for line in lines:
            if line.startswith("Log:"):
                epoch = int(line.rsplit("(", 1)[1].split(")")[0])
            elif m := header.match(line):
                conn.execute("INSERT OR IGNORE INTO users(name) VALUES (?)", (m.group(4),))
                user = conn.execute("SELECT id FROM users WHERE name = ?", (m.group(4),)).fetchone()[0]
                conn.execute("INSERT OR IGNORE INTO machines(name, type) VALUES (?, ?)", (m.group(2), m.group(3)))
                machine = conn.execute("SELECT id FROM machines WHERE name = ?", (m.group(2),)).fetchone()[0]
                key = (m.group(1), user, machine)
            elif (m := row.match(line)) and key:
                exists = conn.execute(
                    "SELECT 1 FROM ops WHERE epoch=? AND dir=? AND user_id=? AND machine_id=? AND bucket=?",
                    (epoch, *key, m.group(1)),
                ).fetchone()
                if not exists:
                    conn.execute(
                        "INSERT INTO ops VALUES (?, ?, ?, ?, ?, ?)", (epoch, *key, m.group(1), int(m.group(2)))
                    )
    conn.commit()
    conn.close()
    return time.perf_counter() - start


def reference_loop() -> float:
    """Seconds for a fixed pure-Python loop: this shared machine's speed varies by up to 2x from minute to minute,
    so each figure is printed beside it (a lower reference means a faster moment)."""
    start = time.perf_counter()
    total = 0
    for i in range(2_000_000):
        total += i
    return time.perf_counter() - start


def bench_ingest(args) -> None:
    print("== ingest (SQLite, one process per measurement) ==")
    for days in args.days:
        log = demo_log(days)
        size_mb = log.stat().st_size / 1e6
        small = days <= 31
        repeat = args.repeat if small else 1
        firsts, naives = [], []
        for i in range(repeat):
            db = fresh_db(f"ingest-{days}d.db")
            firsts.append((run_ingest(db, log), reference_loop()))
            if small and not args.no_naive and i % 2 == 0:  # interleaved: the same moments of this machine
                naives.append((naive_ingest(fresh_db(f"naive-{days}d.db"), log), firsts[-1][0]["seconds"]))
        again = run_ingest(db, log)
        rows = firsts[0][0]["rows"]
        print(f"{days:>4} days  {size_mb:7.1f} MB  {rows:>9,} rows")
        for first, reference in sorted(firsts, key=lambda f: f[0]["seconds"]):
            print(
                f"    first ingest : {first['seconds']:7.2f} s  {rows / first['seconds']:>9,.0f} rows/s  "
                f"{size_mb / first['seconds']:6.1f} MB/s  peak RSS {first['peak_rss_mb']:.0f} MB  "
                f"(reference loop {reference * 1000:.0f} ms)"
            )
        if repeat > 1:
            median = _median([f["seconds"] for f, _ in firsts])
            print(f"    first ingest, median of {repeat}: {median:.2f} s  {rows / median:,.0f} rows/s")
        print(
            f"    re-ingest    : {again['seconds']:7.2f} s  "
            f"({again['seconds'] / firsts[0][0]['seconds']:.0%} of first; "
            f"{again['new_rows']} rows added)  peak RSS {again['peak_rss_mb']:.0f} MB"
        )
        if naives:
            naive = _median([n for n, _ in naives])
            ratio = _median([n / ours for n, ours in naives])
            print(
                f"    naive loader : {naive:7.2f} s  {rows / naive:>9,.0f} rows/s  (median of {len(naives)}, each run "
                f"just after one of clusterdash's: clusterdash is {ratio:.1f}x faster)"
            )


def wide_hour(users: int, seed: int = 0) -> Path:
    """One hour of `users` distinct users on 64 machines, one or two rows each, as bpftrace prints them: an hour
    no real server writes (the real month's largest has 86 entries), to see that the ingest's memory stays bounded."""
    import random

    path = DATA / f"wide-{users}-seed{seed}.log"
    if not path.exists():
        DATA.mkdir(exist_ok=True)
        rng = random.Random(seed)
        lines = ["Log: 2025-03-01 06:00:15 (1740805215)"]
        for i in range(users):
            lines.append(f"@{rng.choice(['rd', 'wr'])}_client(wide{i % 64:02d},tik)[crowd{i:06d}(stud/tik)]:")
            for label in rng.sample(["[4K, 8K)", "[64K, 128K)", "[1M, 2M)"], rng.randint(1, 2)):
                lines.append(f"{label:<16}{rng.randint(1, 100_000):>8} |{'@' * 10:<52}|")
            lines.append("")
        path.write_text("\n".join(lines) + "\n")
    return path


def bench_wide(args) -> None:
    print("== one wide hour (SQLite, one process per measurement) ==")
    baseline = run_ingest(fresh_db("wide.db"), wide_hour(1))
    log = wide_hour(args.users)
    for _ in range(3):
        got = run_ingest(fresh_db("wide.db"), log)
        print(
            f"  {args.users:,} users, {log.stat().st_size / 1e6:.1f} MB: {got['seconds']:.2f} s, "
            f"peak RSS {got['peak_rss_mb']:.0f} MB (an hour of one user: {baseline['peak_rss_mb']:.0f} MB)"
        )


def _median(values: list[float]) -> float:
    values = sorted(values)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def run_script(name: str, extra: list[str]) -> None:
    path = ROOT / "scripts" / f"{name}.py"
    if not path.exists():
        print(f"== {name}: not present ==")
        return
    print(f"== {name} ==", flush=True)
    subprocess.run([sys.executable, str(path), *extra], check=True, cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "part", nargs="?", default="ingest", choices=["ingest", "wide", "follow", "queries", "dashboard", "all"]
    )
    parser.add_argument("--days", type=int, nargs="+", default=[30, 365], help="log sizes to ingest (default: 30 365)")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive-loader comparison")
    parser.add_argument("--repeat", type=int, default=7, help="first ingests of a month or less (default: 7)")
    parser.add_argument("--users", type=int, default=50_000, help="distinct users in the wide hour (default: 50000)")
    args = parser.parse_args()
    if args.part in ("ingest", "all"):
        bench_ingest(args)
    if args.part in ("wide", "all"):
        bench_wide(args)
    for part in ("follow", "queries", "dashboard"):
        if args.part in (part, "all"):
            run_script(f"bench_{part}", [])


if __name__ == "__main__":
    main()
