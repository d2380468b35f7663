"""`clusterdash jobs pull`: run sacct for the window since the last pull (with an overlap) and store what it prints,
for cron or a systemd timer.

The command is the `sacct` setting: `sacct` on PATH, or any command whose last word is the sacct to run, such as
`ssh login1 sacct` or `/opt/slurm/bin/sacct`. The arguments are sacct_command's (ingest/sacct.py), and the times
are asked and printed in the cluster's zone in the standard format: `env TZ=<zone> SLURM_TIME_FORMAT=standard`
goes just before the sacct word, so it holds over ssh too:

    ssh login1 env TZ=Europe/Zurich SLURM_TIME_FORMAT=standard sacct --allusers --parsable2 --noheader -X \\
      --format=JobID,...,JobName --starttime 2025-03-12T13:00:00 --endtime 2025-03-12T15:00:00

Without --since, the window starts an overlap before the end of the last pull; the first pull covers the stored IO
log (or the last day when there is none). The window, what came back, and the jobs it brought are stored in one
transaction: a failed pull stores nothing and the next one asks again.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass

from sqlalchemy import Engine

from clusterdash.db.engine import write_transaction
from clusterdash.db.jobs.store import Pull, last_pull, record_pull
from clusterdash.db.periods import DAY, HOUR, hour_of
from clusterdash.db.query.coverage import blocks
from clusterdash.db.timefmt import iso_utc
from clusterdash.errors import UserError
from clusterdash.ingest.jobs import JobsReport, store_output
from clusterdash.ingest.sacct import parse_sacct, sacct_command, sacct_environment

# A job that ended or started just before the last pull's end may reach Slurm's accounting database only a little
# later; asking again for the last hour costs a few lines, which change nothing when they are known.
OVERLAP = HOUR
TIMEOUT = 600  # seconds sacct may take: a year's window takes seconds on a busy cluster; beyond this it is stuck


@dataclass
class PullReport:
    since: int
    until: int
    argv: list[str]
    report: JobsReport
    sacct_seconds: float


def pull_window(engine: Engine, since: int | None, now: int) -> tuple[int, int]:
    """[since, until) of the next pull: from `since` when given; else an overlap before the last pull's end; else
    the first hour of the stored IO (or a day ago)."""
    if since is None:
        with engine.connect() as conn:
            last = last_pull(conn)
            first, _ = blocks(conn).extent
        if last is not None:
            since = last.until - OVERLAP
        elif first is not None:
            since = hour_of(first)
        else:
            since = now - DAY
    if since >= now:
        raise UserError(f"--since {since} is not before now ({now}): nothing to ask sacct for")
    return since, now


def sacct_argv(command: str, since: int, until: int, zone_name: str) -> list[str]:
    """The argv that runs sacct for [since, until) through `command` (the sacct setting)."""
    words = shlex.split(command)
    if not words:
        raise UserError("the sacct command is empty (set CLUSTERDASH_SACCT, e.g. to sacct or to ssh login1 sacct)")
    if shutil.which(words[0]) is None:  # env would run a sacct here, but say so in our words
        raise UserError(f"cannot run {words[0]!r}: not found (set CLUSTERDASH_SACCT to the command that runs sacct)")
    environment = [f"{name}={value}" for name, value in sacct_environment(zone_name).items()]
    return words[:-1] + ["env", *environment] + sacct_command(since, until, zone_name, program=words[-1])


def run_sacct(argv: list[str]) -> str:
    """sacct's output; UserError (one line) when it cannot be run, fails or hangs."""
    try:
        done = subprocess.run(argv, capture_output=True, timeout=TIMEOUT, check=False)
    except FileNotFoundError:
        raise UserError(
            f"cannot run {argv[0]!r}: not found (set CLUSTERDASH_SACCT to the command that runs sacct)"
        ) from None
    except subprocess.TimeoutExpired:
        raise UserError(f"sacct did not answer within {TIMEOUT} s: {shlex.join(argv)[:300]}") from None
    except OSError as exc:
        raise UserError(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from exc
    if done.returncode != 0:
        said = (done.stderr.decode("utf-8", "replace").strip().splitlines() or ["(nothing on stderr)"])[-1]
        raise UserError(f"sacct failed (exit {done.returncode}): {said[:300]}")
    return done.stdout.decode("utf-8", "replace")


def pull_jobs(
    engine: Engine, command: str, zone_name: str, since: int | None = None, now: int | None = None
) -> PullReport:
    """Run sacct for the next window and store what it prints (see the module's docstring)."""
    now = int(time.time()) if now is None else now
    since, until = pull_window(engine, since, now)
    argv = sacct_argv(command, since, until, zone_name)
    started = time.perf_counter()
    text = run_sacct(argv)
    sacct_seconds = time.perf_counter() - started
    output = parse_sacct(text, zone_name)
    source = f"sacct {iso_utc(since)}..{iso_utc(until)}"
    lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    with write_transaction(engine) as conn:
        report = store_output(conn, output, source, lines, now)
        record_pull(
            conn,
            Pull(since, until, now, lines, report.stored.new, report.stored.updated, len(report.rejected)),
        )
    return PullReport(since, until, argv, report, sacct_seconds)
