"""Query benchmark: p50/p95 per API endpoint over typical filter sets, on a year and a five-year demo database.

    python scripts/bench_queries.py                        # SQLite, 365 and 1825 days, in bench-data/
    python scripts/bench_queries.py --days 365 --db postgresql+psycopg://postgres@127.0.0.1:5432/bench

A database is built once (demo log + ingest, rollups in Europe/Zurich) and reused. Requests go through the
real Flask blueprint (argument parsing, queries, JSON), not the network. Prints one line per endpoint.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import flask

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clusterdash.db.engine import init_schema, make_engine  # noqa: E402
from clusterdash.db.queries import latest_block_epoch  # noqa: E402
from clusterdash.db.rollups import ensure_rollups  # noqa: E402
from clusterdash.web.api import api_blueprint  # noqa: E402

ZONE = "Europe/Zurich"
DATA = ROOT / "bench-data"


def build(url: str, days: int, seed: int = 1) -> None:
    from clusterdash.ingest.demo import write_demo_log
    from clusterdash.ingest.pipeline import ingest_paths

    engine = make_engine(url)
    init_schema(engine)
    ensure_rollups(engine, ZONE)
    with engine.connect() as conn:
        if latest_block_epoch(conn) is not None:
            return
    log = DATA / f"demo-{days}d-{seed}.log"
    if not log.exists():
        print(f"writing {log} ...", flush=True)
        write_demo_log(log, days=days, seed=seed)
    print(f"ingesting {log} into {url} ...", flush=True)
    started = time.perf_counter()
    report = ingest_paths(engine, [str(log)], progress=False)
    print(f"  {report.total('rows'):,} rows in {time.perf_counter() - started:.1f} s", flush=True)


def filter_sets(client, rng: random.Random) -> list[dict]:
    stats = client.get("/api/stats").get_json()
    first, end = stats["range"]["start_epoch"], stats["range"]["end_epoch"]
    users = client.get("/api/users?limit=200").get_json()["users"]
    machines = client.get("/api/machines?limit=200").get_json()["machines"]
    mid = rng.randrange(first, max(first + 1, end - 90 * 86400), 3600)
    return [
        {},
        {"start": end - 30 * 86400},
        {"start": end - 7 * 86400},
        {"start": mid, "end": mid + 90 * 86400},
        {"user": users[0]["user"]},
        {"user": rng.choice(users)["user"], "start": end - 30 * 86400},
        {"machine": machines[0]["machine"]},
        {"role": "staff"},
        {"machine_type": machines[0]["machine_type"], "direction": "rd"},
        {"direction": "wr"},
        {"size": "[1M, 2M)"},
    ]


def run(url: str, repeat: int) -> dict[str, list[float]]:
    engine = make_engine(url)
    app = flask.Flask("bench")
    app.register_blueprint(api_blueprint(lambda: engine, default_tz=ZONE, rollup_zone=ZONE))
    client = app.test_client()
    rng = random.Random(7)
    sets = filter_sets(client, rng)
    top_user = client.get("/api/users?limit=1").get_json()["users"][0]["user"]
    some_user = rng.choice(client.get("/api/users").get_json()["users"])["user"]
    top_machine = client.get("/api/machines?limit=1").get_json()["machines"][0]["machine"]
    requests = []
    for f in sets:
        requests += [("/api/stats", f), ("/api/users", {**f, "limit": 50}), ("/api/machines", f),
                     ("/api/usage/size", f), ("/api/usage/time", f),
                     ("/api/usage/time", {**f, "group_by": "user", "top": 10}),
                     ("/api/usage/time", {**f, "group_by": "role"})]
        if not any(k in f for k in ("user", "role", "size")):
            requests += [(f"/api/usage/user/{top_user}", f), (f"/api/usage/user/{some_user}", f)]
        if not any(k in f for k in ("machine", "machine_type", "size")):
            requests.append((f"/api/usage/machine/{top_machine}", f))
    timings: dict[str, list[float]] = {}
    for _ in range(repeat):
        for path, args in requests:
            started = time.perf_counter()
            response = client.get(path, query_string=args)
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, (path, args, response.get_data(as_text=True)[:200])
            name = path.rsplit("/", 1)[0] + "/<name>" if "/usage/user/" in path or "/usage/machine/" in path else path
            timings.setdefault(name, []).append(elapsed)
    return timings


def report(label: str, timings: dict[str, list[float]]) -> None:
    print(f"\n{label}")
    print(f"  {'endpoint':32s} {'n':>4s} {'p50 ms':>8s} {'p95 ms':>8s} {'max ms':>8s}")
    for name, values in timings.items():
        values = sorted(values)
        p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
        print(f"  {name:32s} {len(values):4d} {statistics.median(values):8.1f} {p95:8.1f} {values[-1]:8.1f}")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, action="append", help="database sizes (default: 365 and 1825)")
    parser.add_argument("--db", help="database URL (default: a SQLite file per size in bench-data/)")
    parser.add_argument("--repeat", type=int, default=3, help="times each request is repeated")
    args = parser.parse_args()
    DATA.mkdir(exist_ok=True)
    for days in args.days or [365, 1825]:
        url = args.db or f"sqlite:///{DATA / f'bench-{days}d.db'}"
        build(url, days)
        report(f"{days} days, {url.split(':')[0]}, rollup zone {ZONE}", run(url, args.repeat))


if __name__ == "__main__":
    main()
