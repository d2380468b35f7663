#!/usr/bin/env python3
"""Benchmark: judging alert rules when an hour arrives, and replaying them over a year (`alerts check --dry-run`).

    python scripts/bench_alerts.py             # the year file (365 days), SQLite
    python scripts/bench_alerts.py --days 30   # a smaller one, for a quick look
    python scripts/bench_alerts.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/bench   # also there

Prints, on a database holding the whole log:
  * one new hour judged by each of TEN_RULES alone, and by all ten together (the median over REPEATS hours, each
    judged once, as the follower judges an hour): the issue's target is <= 20 ms per rule;
  * the dry run of the ten rules over the whole log;
  * with --latency: from appending an hour that crosses a rule to a followed log to its message at a real SMTP
    server (aiosmtpd, in this process), through `clusterdash ingest --follow` with the default poll and settle
    (1 s each): the issue's target is 5 s.
The follower's share is measured by scripts/bench_follow.py (its alerts line), with these rules.
Data goes to bench-data/ (git-ignored); the generated log and the database are reused across runs.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench-data"
sys.path.insert(0, str(ROOT))

REPEATS = 9

# Ten rules an admin might keep: every subject, sums and sustained windows up to a day, baselines over four
# weeks, a size range, a share, machines per user.
TEN_RULES = """
[[rule]]
name = "heavy-small-reads"
subject = "user"
measure = "small_operations"
direction = "rd"
window = "3h"
mode = "sustained"
above = 100_000

[[rule]]
name = "user-ops"
subject = "user"
measure = "operations"
above = 500_000

[[rule]]
name = "user-spike"
subject = "user"
measure = "operations"
baseline = { factor = 5, floor = 200_000, weeks = 4, min_weeks = 2 }

[[rule]]
name = "user-bytes-day"
subject = "user"
measure = "bytes"
window = "24h"
above = 5_000_000_000_000

[[rule]]
name = "many-machines"
subject = "user"
measure = "machines"
above = 3
min_operations = 10_000

[[rule]]
name = "pair-writes"
subject = "user_machine"
measure = "operations"
direction = "wr"
above = 200_000

[[rule]]
name = "machine-mid-sizes"
subject = "machine"
measure = "operations"
sizes = ["4K", "64K"]
above = 200_000

[[rule]]
name = "type-small-share"
subject = "machine_type"
measure = "small_share"
window = "24h"
above = 0.8
min_operations = 1_000_000

[[rule]]
name = "role-spike"
subject = "role"
measure = "operations"
window = "3h"
baseline = { factor = 4, floor = 500_000, weeks = 4 }

[[rule]]
name = "server-bytes"
subject = "server"
measure = "bytes"
above = 1_000_000_000_000
"""


def ten_rules():
    from clusterdash.alerts.rulefile import parse_rules

    return parse_rules(TEN_RULES, "bench")


def loaded_database(days: int) -> Path:
    """A SQLite file holding the whole demo log of `days` days (made once, kept in bench-data/)."""
    from bench import demo_log  # scripts/ is on sys.path when a script in it runs

    from clusterdash.db.engine import make_engine
    from clusterdash.db.setup import prepare_database
    from clusterdash.ingest.pipeline import ingest_paths

    db = DATA / f"alerts-{days}d.db"
    if not db.exists():
        log = demo_log(days)
        print(f"  ingesting {log.name} ...", flush=True)
        work = db.with_suffix(".tmp")
        engine = make_engine(f"sqlite:///{work}")
        prepare_database(engine, "UTC")
        ingest_paths(engine, [str(log)], progress=False)
        engine.dispose()
        work.rename(db)
    return db


def fresh_copy(db: Path) -> str:
    """A copy of the loaded database that no judgement has touched."""
    work = DATA / "alerts-work.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(work) + suffix).unlink(missing_ok=True)
    shutil.copyfile(db, work)
    return f"sqlite:///{work}"


def last_hours(engine, count: int) -> list[int]:
    from clusterdash.db.alerts.hourly import latest_hour, logged_hours
    from clusterdash.db.periods import HOUR

    with engine.connect() as conn:
        newest = latest_hour(conn)
        return [int(h) for h in logged_hours(conn, newest - 100 * HOUR, newest + HOUR)][-count:]


def per_hour(engine, rules, hours: list[int]) -> float:
    """The median time of judging one new hour with `rules`, over `hours` (each judged once)."""
    from clusterdash.alerts.evaluate import Evaluator

    evaluator = Evaluator(engine, rules, notifying=False)
    times = []
    for hour in hours:
        started = time.perf_counter()
        evaluator.judge([hour])
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench(url: str, label: str) -> None:
    from clusterdash.alerts.replay import replay
    from clusterdash.alerts.rules import RuleSet
    from clusterdash.db.engine import make_engine

    rules = ten_rules()
    engine = make_engine(url)
    hours = last_hours(engine, REPEATS * (len(rules.rules) + 1))
    print(f"{label}: one new hour judged (median of {REPEATS} hours, each judged once)")
    chunks = [hours[i * REPEATS : (i + 1) * REPEATS] for i in range(len(rules.rules) + 1)]
    for rule, chunk in zip(rules.rules, chunks):
        alone = per_hour(engine, RuleSet((rule,), "bench"), chunk)
        print(f"  {rule.name:<20} alone     : {1000 * alone:7.2f} ms")
    together = per_hour(engine, rules, chunks[-1])
    per_rule = 1000 * together / len(rules.rules)
    print(f"  all {len(rules.rules)} rules together     : {1000 * together:7.2f} ms = {per_rule:.2f} ms per rule")
    started = time.perf_counter()
    result = replay(engine, rules, 0, 2**33)
    seconds = time.perf_counter() - started
    print(
        f"  dry run of the {len(rules.rules)} rules over {result.hours:,} hours: {seconds:.2f} s "
        f"({len(result.alerts):,} alerts would have fired)"
    )
    engine.dispose()


def to_postgres(db: Path, url: str) -> None:
    """The loaded database's log, ingested into the PostgreSQL database at `url` (when it holds nothing yet)."""
    from clusterdash.db.engine import make_engine
    from clusterdash.db.query import latest_block_epoch
    from clusterdash.db.setup import prepare_database
    from clusterdash.ingest.pipeline import ingest_paths

    engine = make_engine(url)
    prepare_database(engine, "UTC")
    with engine.connect() as conn:
        empty = latest_block_epoch(conn) is None
    if empty:
        from bench import demo_log

        days = int(db.stem.split("-")[1].rstrip("d"))
        print(f"  ingesting the {days}-day log into PostgreSQL ...", flush=True)
        ingest_paths(engine, [str(demo_log(days))], progress=False)
        # What autovacuum does within a minute of a bulk load: without statistics the planner reads all of
        # IOOperations for a size-range rule (~200 ms an hour on the year) instead of the hour's sessions (< 1 ms).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def latency(repeats: int = REPEATS) -> None:
    """Seconds from an appended hour to its message at the SMTP server, through a real follower process."""
    import os
    import subprocess
    import tempfile

    from clusterdash.db.periods import HOUR, floor_hour
    from tests.alerttools import heavy_rule, hour_block, reads
    from tests.mailtools import Mailbox, SMTPServer

    box = Mailbox()
    server = SMTPServer(box)
    server.start()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / "rules.toml").write_text(heavy_rule())
        log = work / "io_usage.log"
        hour = floor_hour(int(time.time())) - (repeats + 2) * HOUR
        log.write_text(hour_block(hour, reads("quiet", 10)))
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLUSTERDASH_")} | {
            "CLUSTERDASH_ALERTS_SMTP_HOST": "127.0.0.1",
            "CLUSTERDASH_ALERTS_SMTP_PORT": str(server.port),
            "CLUSTERDASH_ALERTS_FROM": "clusterdash@example.edu",
            "CLUSTERDASH_ALERTS_ADMINS": "admin@example.edu",
        }
        command = [sys.executable, "-m", "clusterdash", "--db", f"sqlite:///{work / 'db.sqlite'}", "ingest"]
        command += ["--follow", str(log), "--alerts", str(work / "rules.toml")]
        follower = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
        times = []
        try:
            time.sleep(5)  # its start: imports, the first block
            for n in range(repeats):
                with open(log, "a") as f:
                    f.write(hour_block(hour + (n + 1) * HOUR, reads(f"user{n}", 5000)))
                appended = time.perf_counter()
                while len(box.messages) < n + 1 and time.perf_counter() - appended < 30:
                    time.sleep(0.01)
                times.append(time.perf_counter() - appended)
        finally:
            follower.terminate()
            follower.wait(30)
            server.stop()
    print(
        f"  appended hour -> message at the SMTP server: median {statistics.median(times):.2f} s, "
        f"max {max(times):.2f} s ({repeats} hours; poll 1 s, settle 1 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=365, help="size of the generated log in days (default 365)")
    parser.add_argument("--postgres", help="also measure on this PostgreSQL database (loaded once, then reused)")
    parser.add_argument("--latency", action="store_true", help="only the latency from an appended hour to its mail")
    args = parser.parse_args()
    if args.latency:
        latency()
        return
    db = loaded_database(args.days)
    bench(fresh_copy(db), f"{args.days} days, SQLite")
    if args.postgres:
        to_postgres(db, args.postgres)
        bench(args.postgres, f"{args.days} days, PostgreSQL")  # judged hours stay judged: use a fresh database


if __name__ == "__main__":
    main()
