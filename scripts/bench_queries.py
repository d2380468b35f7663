"""Query benchmark: p50/p95 per API endpoint over the filter sets an admin uses, on a year and a five-year demo
database; and what the rollups cost the ingest.

    python scripts/bench_queries.py                        # SQLite, 365 and 1825 days, in bench-data/
    python scripts/bench_queries.py --days 365 --db postgresql+psycopg://postgres@127.0.0.1:5432/bench
    python scripts/bench_queries.py --ingest               # ingest rows/s of a month, with and without rollups
    python scripts/bench_queries.py --days 365 --save new.json   # also every request's time, to compare runs
    python scripts/bench_queries.py --days 365 --cpu       # CPU time per request: steadier on a busy machine

A database is built once (demo log + ingest, rollups in Europe/Zurich) and reused. Requests go through the
real Flask blueprint (argument parsing, queries, JSON), not the network, after one untimed pass over them all
(a server that has run for a moment). Prints one line per endpoint, then the slowest requests.
Targets (issue 4): p95 <= 50 ms on a year and <= 150 ms on five years, on SQLite.

The filter sets: the whole range; the last 7, 30 and 90 days; one user (the busiest, and a quiet one); one
machine; a role; a machine type; a size bucket; reads only; and combinations of two of these. Each set asks
every endpoint, and the series also grouped by user, machine, role and machine type (top 10), in the bucket
chosen for the range and in days; grouped series are reported per grouping. The profiles (with their rank,
share and usual level) are asked for the busiest user, a random one and the busiest machine, and the load view's
query function (query.load_shares, no endpoint) with each set, and both also for the last 24 hours and the 7 days
of a week ago (ranges with a usual level, which reads four more weeks).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import flask

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clusterdash.db.engine import make_engine  # noqa: E402
from clusterdash.db.query import latest_block_epoch  # noqa: E402
from clusterdash.db.setup import prepare_database  # noqa: E402
from clusterdash.web.api import api_blueprint  # noqa: E402

ZONE = "Europe/Zurich"
GROUP_BYS = ("user", "machine", "role", "machine_type")
DATA = ROOT / "bench-data"
DAY = 86400


def demo_log(days: int, seed: int = 1) -> Path:
    """The demo log of `days` days, and beside it (demo-...sacct.txt) the sacct output of its batch jobs."""
    from clusterdash.ingest.demo import write_demo_log

    log = DATA / f"demo-{days}d-{seed}.log"
    if not log.exists():
        print(f"writing {log} and its jobs' sacct output ...", flush=True)
        write_demo_log(log.with_suffix(".tmp"), days=days, seed=seed, sacct_path=sacct_of(log))
        log.with_suffix(".tmp").rename(log)
    return log


def sacct_of(log: Path) -> Path:
    return log.with_suffix(".sacct.txt")


def build(url: str, days: int, seed: int = 1) -> None:
    from clusterdash.ingest.pipeline import ingest_paths

    engine = make_engine(url)
    prepare_database(engine, ZONE)
    with engine.connect() as conn:
        if latest_block_epoch(conn) is not None:
            return
    log = demo_log(days, seed)
    print(f"ingesting {log.name} into {url} ...", flush=True)
    started = time.perf_counter()
    report = ingest_paths(engine, [str(log)], progress=False)
    seconds = time.perf_counter() - started
    print(f"  {report.added.rows:,} rows in {seconds:.1f} s ({report.added.rows / seconds:,.0f} rows/s)", flush=True)
    if sacct_of(log).exists():
        from clusterdash.ingest.jobs import ingest_sacct_files

        jobs = ingest_sacct_files(engine, [str(sacct_of(log))], ZONE)
        print(f"  {jobs.stored.new:,} jobs in {jobs.seconds:.1f} s", flush=True)
    engine.dispose()


def table_sizes(url: str) -> None:
    from sqlalchemy import func, select

    from clusterdash.db.schema import (
        io_operations,
        rollup_machine_sizes,
        rollup_machine_usage,
        rollup_pair_sizes,
        rollup_sizes,
        rollup_usage,
        rollup_user_sizes,
        rollup_user_usage,
    )

    engine = make_engine(url)
    with engine.connect() as conn:
        raw = conn.execute(select(func.count()).select_from(io_operations)).scalar_one()
        print(f"  IOOperations: {raw:,} rows")
        for table in (
            rollup_usage,
            rollup_user_usage,
            rollup_machine_usage,
            rollup_sizes,
            rollup_user_sizes,
            rollup_machine_sizes,
            rollup_pair_sizes,
        ):
            per_grain = dict(conn.execute(select(table.c.grain, func.count()).group_by(table.c.grain)).all())
            total = sum(per_grain.values())
            print(
                f"  {table.name:20s} {total:>9,} rows ({total / max(raw, 1):.1%} of raw): "
                + ", ".join(f"{g} {per_grain[g]:,}" for g in "dwmy" if g in per_grain)
            )
    engine.dispose()


def filter_sets(client) -> list[tuple[str, dict]]:
    stats = client.get("/api/stats").get_json()
    end = stats["range"]["end_epoch"]
    users = client.get("/api/users").get_json()["users"]
    machines = client.get("/api/machines").get_json()["machines"]
    top_user, quiet_user = users[0]["user"], users[len(users) // 2]["user"]
    top_machine = machines[0]["machine"]
    role, machine_type, size = "staff", machines[0]["machine_type"], "[1M, 2M)"
    return [
        ("whole range", {}),
        ("last 7 days", {"start": end - 7 * DAY}),
        ("last 30 days", {"start": end - 30 * DAY}),
        ("last 90 days", {"start": end - 90 * DAY}),
        ("busiest user", {"user": top_user}),
        ("a quiet user", {"user": quiet_user}),
        ("busiest machine", {"machine": top_machine}),
        ("a role", {"role": role}),
        ("a machine type", {"machine_type": machine_type}),
        ("a size bucket", {"size": size}),
        ("reads only", {"direction": "rd"}),
        ("user, last 30 days", {"user": top_user, "start": end - 30 * DAY}),
        ("machine, last 7 days", {"machine": top_machine, "start": end - 7 * DAY}),
        ("size, last 30 days", {"size": size, "start": end - 30 * DAY}),
        ("role, size", {"role": role, "size": size}),
        ("role, reads", {"role": role, "direction": "rd"}),
        ("machine type, reads", {"machine_type": machine_type, "direction": "rd"}),
        ("user, size", {"user": top_user, "size": size}),
        ("machine, size", {"machine": top_machine, "size": size}),
        ("role, machine type", {"role": role, "machine_type": machine_type}),
        ("user, machine type", {"user": top_user, "machine_type": machine_type}),
    ]


def run(
    url: str, repeat: int, clock=time.perf_counter
) -> tuple[dict[str, list[float]], list[tuple[float, str, str, dict]]]:
    engine = make_engine(url)
    app = flask.Flask("bench")
    # No answer kept: every request is asked of the database, as the first after a commit is.
    app.register_blueprint(api_blueprint(lambda: engine, default_tz=ZONE, answer_bytes=0))
    client = app.test_client()
    sets = filter_sets(client)
    end = client.get("/api/stats").get_json()["range"]["end_epoch"]
    # Only for the profiles and the load view (the other endpoints keep the sets they were measured on).
    comparing = [
        ("last 24 hours", {"start": end - DAY}),
        ("7 days a week ago", {"start": end - 14 * DAY, "end": end - 7 * DAY}),
    ]
    users = client.get("/api/users").get_json()["users"]
    top_user = users[0]["user"]
    some_user = random.Random(7).choice(users)["user"]
    top_machine = client.get("/api/machines?limit=1").get_json()["machines"][0]["machine"]
    listed = client.get("/api/jobs?limit=1").get_json()["jobs"]
    top_job = listed[0]["job"] if listed else None
    requests = []
    for name, f in sets:
        requests += [
            (name, "/api/stats", f),
            (name, "/api/users", {**f, "limit": 50}),
            (name, "/api/machines", f),
            (name, "/api/usage/size", f),
            (name, "/api/usage/time", f),
        ]
        for group_by in GROUP_BYS:
            requests += [
                (name, "/api/usage/time", {**f, "group_by": group_by, "top": 10}),
                (name, "/api/usage/time", {**f, "group_by": group_by, "top": 10, "bucket": "day"}),
            ]
        if "user" not in f:  # a profile replaces the user filter; one named in the filters is that profile
            requests += [(name, f"/api/usage/user/{top_user}", f), (name, f"/api/usage/user/{some_user}", f)]
        if "machine" not in f:
            requests.append((name, f"/api/usage/machine/{top_machine}", f))
        if top_job is not None:  # the jobs panel asks for 100, the dashboard's table
            requests += [(name, "/api/jobs", {**f, "limit": 100}), (name, "/api/jobs", {**f, "running": "true"})]
            requests += [(name, "/api/users", {**f, "job": top_job})]  # a job selected: its user, machines, hours
            if "user" not in f and "start" not in f:
                requests.append((name, f"/api/usage/job/{top_job}", f))
        requests.append((name, LOAD_SHARES, f))
    for name, f in comparing:
        requests += [
            (name, f"/api/usage/user/{top_user}", f),
            (name, f"/api/usage/user/{some_user}", f),
            (name, f"/api/usage/machine/{top_machine}", f),
            (name, LOAD_SHARES, f),
        ]
    timings: dict[str, list[float]] = {}
    slowest: list[tuple[float, str, str, dict]] = []
    for _name, path, args in requests:  # warm up: the database's pages into memory, the hour list (per data version)
        ask(client, engine, path, args)
    for _ in range(repeat):
        for name, path, args in requests:
            started = clock()
            ask(client, engine, path, args)
            elapsed = (clock() - started) * 1000
            profile = any(part in path for part in ("/usage/user/", "/usage/machine/", "/usage/job/"))
            key = path.rsplit("/", 1)[0] + "/<name>" if profile else path
            key += f" by {args['group_by']}" if "group_by" in args else ""
            key += ", running" if args.get("running") else ""
            key += ", a job selected" if "job" in args else ""
            key += ", days" if args.get("bucket") == "day" else ""
            timings.setdefault(key, []).append(elapsed)
            slowest.append((elapsed, name, path, args))
    engine.dispose()
    return timings, sorted(slowest, key=lambda s: s[0], reverse=True)


# The load view has no endpoint: its query function is asked directly, with the filters the API would build.
LOAD_SHARES = "query.load_shares"


def ask(client, engine, path: str, args: dict) -> None:
    if path == LOAD_SHARES:
        from clusterdash.db import query
        from clusterdash.db.filters import Filters

        with engine.connect() as conn:
            query.load_shares(conn, Filters.from_args({k: str(v) for k, v in args.items()}, default_tz=ZONE))
        return
    response = client.get(path, query_string=args)
    assert response.status_code == 200, (path, args, response.get_data(as_text=True)[:200])


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def report(label: str, timings: dict[str, list[float]], slowest, target: float) -> None:
    print(f"\n{label}")
    print(f"  {'endpoint':36s} {'n':>4s} {'p50 ms':>8s} {'p95 ms':>8s} {'max ms':>8s}")
    for name, values in timings.items():
        p95 = percentile(values, 0.95)
        flag = "" if p95 <= target else f"   over {target:.0f} ms"
        print(f"  {name:36s} {len(values):4d} {statistics.median(values):8.1f} {p95:8.1f} {max(values):8.1f}{flag}")
    print("  slowest requests:")
    for elapsed, name, path, args in slowest[:8]:
        extra = {k: v for k, v in args.items() if k in ("group_by", "bucket")}
        print(f"    {elapsed:7.1f} ms  {path} [{name}] {extra or ''}")
    sys.stdout.flush()


def bench_ingest(days: int = 30, repeat: int = 5) -> None:
    """Ingest rows/s of a demo month into a fresh SQLite file, with the rollups and without (the rollup call
    replaced by a no-op), alternating in one process: the machines are shared, so compare the ratio. Also per
    second of this process's CPU time, which other processes on the machine do not inflate."""
    import tempfile

    from clusterdash.db import rollups
    from clusterdash.ingest import store
    from clusterdash.ingest.pipeline import ingest_paths

    log = demo_log(days, seed=0)
    # The Loader calls PendingRollups.add per batch and .flush at each commit (write_blocks without a PendingRollups
    # calls add_to_rollups): "without rollups" skips all three (the Loader paces its commits by its own row count).
    real = store.add_to_rollups, rollups.PendingRollups.add, rollups.PendingRollups.flush

    def count_only(pending, conn, new_sessions, new_rows):
        pending.rows += len(new_rows)

    def use(functions):
        store.add_to_rollups = rollups.add_to_rollups = functions[0]
        rollups.PendingRollups.add, rollups.PendingRollups.flush = functions[1], functions[2]

    rates: dict[str, list[float]] = {"without rollups": [], "with rollups": []}
    cpu_rates: dict[str, list[float]] = {"without rollups": [], "with rollups": []}
    try:
        for _ in range(repeat):
            for mode in rates:
                with tempfile.TemporaryDirectory() as tmp:
                    engine = make_engine(f"sqlite:///{tmp}/ingest.db")
                    prepare_database(engine, "UTC")
                    use(
                        real
                        if mode == "with rollups"
                        else (lambda *args, **kwargs: None, count_only, lambda pending, conn: None)
                    )
                    started, cpu = time.perf_counter(), time.process_time()
                    added = ingest_paths(engine, [str(log)], progress=False).added.rows
                    rates[mode].append(added / (time.perf_counter() - started))
                    cpu_rates[mode].append(added / (time.process_time() - cpu))
                    engine.dispose()
    finally:
        use(real)
    print(f"\ningest of {log.name} (SQLite, {repeat} runs each, alternating):")
    for mode, values in rates.items():
        print(
            f"  {mode:16s} median {statistics.median(values):>9,.0f} rows/s, "
            f"{statistics.median(cpu_rates[mode]):>9,.0f} rows per CPU second  (runs: "
            + ", ".join(f"{v:,.0f}" for v in values)
            + ")"
        )
    for label, table in (("wall clock", rates), ("CPU time", cpu_rates)):
        ratio = statistics.median(table["with rollups"]) / statistics.median(table["without rollups"])
        print(f"  with / without ({label}): {ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, action="append", help="database sizes (default: 365 and 1825)")
    parser.add_argument("--db", help="database URL (default: a SQLite file per size in bench-data/)")
    parser.add_argument("--repeat", type=int, default=3, help="times each request is repeated")
    parser.add_argument("--ingest", action="store_true", help="only measure the rollups' share of the ingest")
    parser.add_argument("--save", metavar="FILE", help="also write every request's time (ms) per endpoint as JSON")
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="time each request by this process's CPU time (other processes on a busy machine do not inflate it; "
        "waits for the disk are not counted)",
    )
    args = parser.parse_args()
    DATA.mkdir(exist_ok=True)
    if args.ingest:
        bench_ingest()
        return
    for days in args.days or [365, 1825]:
        url = args.db or f"sqlite:///{DATA / f'bench-{days}d.db'}"
        build(url, days)
        print(f"\n{days} days, {url.split(':')[0]}:")
        table_sizes(url)
        target = 50.0 if days <= 366 else 150.0
        timings, slowest = run(url, args.repeat, time.process_time if args.cpu else time.perf_counter)
        if args.save:
            requests = [{"set": name, "path": path, "args": query, "ms": ms} for ms, name, path, query in slowest]
            Path(args.save).write_text(json.dumps({"days": days, "timings": timings, "requests": requests}))
        report(
            f"{days} days, {url.split(':')[0]}, rollup zone {ZONE}, {'CPU' if args.cpu else 'wall-clock'} time "
            f"(target p95 <= {target:.0f} ms)",
            timings,
            slowest,
            target,
        )


if __name__ == "__main__":
    main()
