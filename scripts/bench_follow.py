#!/usr/bin/env python3
"""Benchmark: taking one new hour from a year of log costs work proportional to the new bytes, not the file.

    python scripts/bench_follow.py            # the year file (365 days, ~150 MB), SQLite
    python scripts/bench_follow.py --days 30  # a smaller file, for a quick look

Prints, as ratios to the first ingest of the file (measured in this same process, since the machines are
shared and absolute times move from run to run):
  * one-shot `ingest` after one block was appended (the stored position is used): the issue's target is < 2 %;
  * the same through the `clusterdash ingest` command, which adds the interpreter's start;
  * the follower taking one appended block (one look at the file, settle 0);
  * the same with alerts (the ten rules of scripts/bench_alerts.py): the follower's own time (it hands the hours to
    the judging thread), and the judgement of the hour on that thread;
  * a re-read of the whole file (resume=False): what the straightforward design costs.
Data goes to bench-data/ (git-ignored); the generated log is reused across runs.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench-data"
sys.path.insert(0, str(ROOT))

REPEATS = 3  # appended-block measurements are short: report the median of a few
HELD_BACK = 4 * REPEATS + 2  # blocks kept out of the first ingest, appended one at a time afterwards


def generated_log(days: int, seed: int = 0) -> Path:
    """The demo log of `days` days, shared with scripts/bench.py (which generates it once into bench-data/)."""
    from bench import demo_log  # scripts/ is on sys.path when a script in it runs

    return demo_log(days, seed)


def split_tail(log: Path, blocks: int) -> tuple[int, list[bytes]]:
    """The byte offset where the last `blocks` blocks start, and those blocks."""
    with open(log, "rb") as f:
        f.seek(max(0, log.stat().st_size - 200 * 1024 * blocks))
        tail = f.read()
    base = log.stat().st_size - len(tail)
    starts = [i + 1 for i in range(len(tail)) if tail.startswith(b"\nLog:", i)][-blocks:]
    pieces = [tail[a:b] for a, b in zip(starts, starts[1:] + [len(tail)])]
    return base + starts[0], pieces


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def with_alerts(engine):
    """The alerts of scripts/bench_alerts.py's ten rules, started on `engine` (no channel: recorded, not sent)."""
    from bench_alerts import ten_rules

    from clusterdash.alerts.notify import Notifier
    from clusterdash.alerts.service import Alerting, AlertSetup
    from clusterdash.alerts.settings import Pacing

    return Alerting(engine, AlertSetup(ten_rules(), Notifier(), Pacing())).start()


def bench(days: int) -> None:
    from clusterdash.db.engine import make_engine
    from clusterdash.db.setup import prepare_database
    from clusterdash.ingest.follow import Follower
    from clusterdash.ingest.pipeline import ingest_paths

    source = generated_log(days)
    cut, held_back = split_tail(source, HELD_BACK)
    work = DATA / f"follow-{days}d.log"
    shutil.copyfile(source, work)
    with open(work, "r+b") as f:
        f.truncate(cut)
    db = DATA / f"follow-{days}d.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    engine = make_engine(url)
    prepare_database(engine, "UTC")

    def append(block: bytes) -> None:
        with open(work, "ab") as f:
            f.write(block)

    size_mb = cut / 1e6
    first = timed(lambda: ingest_paths(engine, [str(work)], progress=False))
    print(f"{days} days, {size_mb:.1f} MB, SQLite")
    print(f"  first ingest                          : {first:8.3f} s")

    blocks = iter(held_back)

    def after_appending(action) -> float:
        """The median time of `action` run right after one more block was appended, REPEATS times."""
        times = []
        for _ in range(REPEATS):
            append(next(blocks))
            times.append(timed(action))
        return statistics.median(times)

    one_shot = after_appending(lambda: ingest_paths(engine, [str(work)], progress=False))
    print(f"  ingest after one appended block       : {one_shot:8.3f} s  = {one_shot / first:7.2%} of the first")

    command = [sys.executable, "-m", "clusterdash", "--db", url, "ingest", "--no-progress", str(work)]
    cli = after_appending(lambda: subprocess.run(command, check=True, cwd=ROOT, capture_output=True))
    startup = statistics.median(
        timed(
            lambda: subprocess.run(
                [sys.executable, "-m", "clusterdash", "--help"], check=True, cwd=ROOT, capture_output=True
            )
        )
        for _ in range(REPEATS)
    )
    print(
        f"  `clusterdash ingest`, one more block  : {cli:8.3f} s  = {cli / first:7.2%} of the first "
        f"(of which {startup:.2f} s is starting the interpreter and importing: `clusterdash --help` takes that)"
    )

    follower = Follower(engine, work, poll=1.0, settle=0.0)
    follower.step()  # opens the file at its stored position
    follow = after_appending(follower.step)
    print(f"  follower taking one appended block    : {follow:8.3f} s  = {follow / first:7.2%} of the first")
    follower.current.file.close()

    alerting = with_alerts(engine)
    follower = Follower(engine, work, poll=1.0, settle=0.0, after_commit=alerting.after_commit)
    follower.step()
    steps, judged = [], []

    def step_and_judge() -> None:
        before = alerting.evaluator.total.seconds
        steps.append(timed(follower.step))
        alerting.judging.drain()  # the judgement runs on its own thread: waited for, not counted in the step
        judged.append(alerting.evaluator.total.seconds - before)

    after_appending(step_and_judge)
    alerted, judgement = statistics.median(steps), statistics.median(judged)
    print(
        f"  the same, alerts on (10 rules)        : {alerted:8.3f} s  = {alerted / follow - 1:+7.1%} on the follower's "
        f"own step (the judgement, {1000 * judgement:.1f} ms, runs on the judging thread)"
    )
    follower.current.file.close()
    alerting.close()

    append(next(blocks))
    reread = timed(lambda: ingest_paths(engine, [str(work)], progress=False, resume=False))
    print(f"  re-read of the whole file (no resume) : {reread:8.3f} s  = {reread / first:7.2%} of the first")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=365, help="size of the generated log in days (default 365)")
    args = parser.parse_args()
    bench(args.days)


if __name__ == "__main__":
    main()
