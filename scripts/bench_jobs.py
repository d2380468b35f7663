#!/usr/bin/env python3
"""Benchmark: reading a year of sacct output, attributing a year of IO to its jobs, and the same through the
database (scripts/bench_jobs_db.py: the demo year's conservation, `jobs ingest`, `jobs pull`, the IO ingest beside
stored jobs).

    python scripts/bench_jobs.py                          # every part: a year, ~300k jobs on a 40-node cluster
    python scripts/bench_jobs.py --part conservation      # the demo year's attribution, checked exactly
    python scripts/bench_jobs.py --jobs 30000 --part parse --part arithmetic   # a quick look

Generates (seeded, in memory) the sacct output of a year for a 40-node cluster in every form sacct prints (array
tasks and pending arrays, heterogeneous jobs, multi-node jobs, cancelled, running and pending jobs, the DST
changes of Europe/Zurich), then prints:
  * the parse: seconds, jobs per second, lines rejected (none expected). The issue's target is the whole
    `jobs ingest` of a year in <= 10 s, storage included, so the parse must take a small part of that;
  * the attribution of a year of synthetic sessions (cells of hour, user, machine, each with ~10 size rows) to the
    parsed jobs: seconds for job-hours, shares and split, and the conservation check (attributed + outside ==
    stored for every row, exactly), with the share of operations outside jobs.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import hostlist
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clusterdash.db.attribution import (  # noqa: E402
    NO_END,
    IORows,
    Placements,
    attribute,
    hour_shares,
    job_hours,
    node_cpus,
    split_rows,
)
from clusterdash.ingest.sacct import parse_sacct  # noqa: E402

ZONE = "Europe/Zurich"
YEAR_START = datetime(2025, 1, 1, tzinfo=ZoneInfo(ZONE))
YEAR = 365 * 86400
HOUR = 3600
NODES = (
    [f"tikgpu{i:02d}" for i in range(1, 11)]
    + [f"arton{i:02d}" for i in range(1, 12)]
    + [f"artongpu{i:02d}" for i in range(1, 8)]
    + [f"snowflake{i:02d}" for i in range(1, 9)]
    + ["tardis-a11", "polaris", "tik42x", "tikcpu01"]
)
STATES = [
    ("COMPLETED", 70),
    ("FAILED", 10),
    ("CANCELLED by {uid}", 8),
    ("TIMEOUT", 5),
    ("OUT_OF_MEMORY", 3),
    ("NODE_FAIL", 1),
    ("PREEMPTED", 1),
]
NAMES = ["train", "eval_resnet50", "bash", "jupyter", "sweep|lr=0.1", "prétraitement", "run.sh", "interactive"]


class LocalText:
    """Epoch -> sacct's local text, with the hour's prefix cached (Europe/Zurich moves by whole hours)."""

    def __init__(self) -> None:
        self.tz = ZoneInfo(ZONE)
        self.prefix: dict[int, str] = {}

    def __call__(self, epoch: int) -> str:
        hour = epoch - epoch % HOUR
        prefix = self.prefix.get(hour)
        if prefix is None:
            prefix = self.prefix[hour] = datetime.fromtimestamp(hour, self.tz).strftime("%Y-%m-%dT%H:")
        return f"{prefix}{epoch % HOUR // 60:02d}:{epoch % 60:02d}"


def elapsed_text(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    clock = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{clock}" if days else clock


def generate(jobs: int, seed: int = 0, users: list[str] | None = None, nodes: list[str] | None = None) -> str:
    """sacct --parsable2 output for `jobs` jobs over the year, as one text (users and nodes: who and where, by
    default 130 users and NODES)."""
    rng = random.Random(seed)
    local = LocalText()
    first = int(YEAR_START.timestamp())
    now = first + YEAR
    users = users or [f"user{i:04d}" for i in range(1, 131)]
    nodes = nodes or NODES
    states, state_weights = zip(*STATES)
    lines: list[str] = []
    next_id = 1000
    while len(lines) < jobs:
        submit = first + rng.randrange(YEAR)
        user = rng.choice(users)
        tasks = rng.randint(2, 40) if rng.random() < 0.08 else 0
        het = rng.random() < 0.01
        parent = next_id
        for index in range(max(tasks, 1) + het):
            job_id_raw = next_id
            next_id += 1
            if tasks:
                job_id = f"{parent}_{index}"
            elif het:
                job_id = f"{parent}+{index}"
            else:
                job_id = str(job_id_raw)
            start = submit + int(rng.expovariate(1 / 600))
            duration = min(int(rng.lognormvariate(7.5, 1.5)), 3 * 86400)
            end = start + duration
            nnodes = rng.choices([1, 2, 4, 8], [88, 9, 2, 1])[0]
            placed = rng.sample(nodes, nnodes)
            cpus = rng.choice([1, 2, 4, 8, 16, 32]) * nnodes
            gpus = rng.choice([0, 1, 2, 4]) if "gpu" in placed[0] else 0
            tres = f"billing={cpus},cpu={cpus},{f'gres/gpu={gpus},' if gpus else ''}mem={rng.choice([4, 16, 64])}G"
            tres += f",node={nnodes}"
            state = rng.choices(states, state_weights)[0].format(uid=rng.randint(1000, 2000))
            if start >= now:
                state, start_text, end_text, elapsed, node_list, tres = (
                    "PENDING", "Unknown", "Unknown", 0, "None assigned", "",
                )  # fmt: skip
            elif end >= now:
                state, start_text, end_text, elapsed = "RUNNING", local(start), "Unknown", now - start
                node_list = hostlist.collect_hostlist(placed)
            else:
                start_text, end_text, elapsed = local(start), local(end), duration
                node_list = hostlist.collect_hostlist(placed)
            fields = [job_id, str(job_id_raw), user, "tik", "gpu.normal" if gpus else "cpu.normal", state]
            fields += [local(submit), start_text, end_text, elapsed_text(elapsed), str(nnodes), node_list, tres]
            fields.append(rng.choice(NAMES))
            lines.append("|".join(fields))
        if tasks and rng.random() < 0.1:  # some arrays still have tasks waiting
            lines.append(
                f"{parent}_[{tasks}-{tasks + 9}%4]|{parent}|{user}|tik|cpu.normal|PENDING|{local(submit)}|Unknown|"
                f"Unknown|00:00:00|1|None assigned||array"
            )
    return "\n".join(lines[:jobs]) + "\n"


def timed(label: str, action, repeats: int = 1):  # type: ignore[no-untyped-def]
    """Run `action` `repeats` times; print the best wall and CPU seconds (the machine is shared: CPU time moves
    less with the other load than wall time does)."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = action()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    best = f" (best of {repeats})" if repeats > 1 else ""
    print(f"  {label + best:<48}{min(walls):7.2f} s wall {min(cpus):7.2f} s CPU")
    return result, min(cpus)


def placements_of(jobs) -> tuple[Placements, dict[str, int], dict[str, int]]:  # type: ignore[no-untyped-def]
    users: dict[str, int] = {}
    machines: dict[str, int] = {}
    started = [job for job in jobs if job.start is not None and job.nodes]
    per_node = [(job, ordinal, node) for job in started for ordinal, node in enumerate(job.nodes)]
    columns = {
        "job": [job.job_id_raw for job, _, _ in per_node],
        "user": [users.setdefault(job.user, len(users)) for job, _, _ in per_node],
        "machine": [machines.setdefault(node, len(machines)) for _, _, node in per_node],
        "start": [job.start for job, _, _ in per_node],
        "end": [NO_END if job.end is None else job.end for job, _, _ in per_node],
    }
    cpus = node_cpus(
        np.array([job.cpus or 0 for job, _, _ in per_node]),
        np.array([len(job.nodes) for job, _, _ in per_node]),
        np.array([ordinal for _, ordinal, _ in per_node]),
    )
    return Placements(cpus=cpus, **{k: np.array(v, dtype=np.int64) for k, v in columns.items()}), users, machines


def sessions(placements: Placements, now: int, cells: int, seed: int = 0) -> IORows:
    """~`cells` (hour, user, machine) cells with ~10 rows each: most where a job ran, some with no job."""
    rng = np.random.default_rng(seed)
    first = int(YEAR_START.timestamp())
    hours = job_hours(placements, now, first, first + YEAR)
    cell = np.unique(np.stack([hours.hour, hours.user, hours.machine]), axis=1)
    in_jobs = cell[:, rng.choice(cell.shape[1], size=min(cell.shape[1], cells * 3 // 4), replace=False)]
    n_out = cells - in_jobs.shape[1]
    outside = np.stack(
        [
            first + HOUR * rng.integers(0, YEAR // HOUR, n_out),
            rng.integers(0, int(placements.user.max()) + 1, n_out),
            rng.integers(0, int(placements.machine.max()) + 1, n_out),
        ]
    )
    cell = np.unique(np.concatenate([in_jobs, outside], axis=1), axis=1)
    per_cell = rng.integers(4, 17, cell.shape[1])
    which = np.repeat(np.arange(cell.shape[1]), per_cell)
    ops = np.rint(rng.lognormal(6.0, 2.5, len(which))).astype(np.int64)
    return IORows(hour=cell[0][which], user=cell[1][which], machine=cell[2][which], ops=ops)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=300_000)
    parser.add_argument("--sessions", type=int, default=170_000, help="(hour, user, machine) cells of IO")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--part", action="append", choices=PARTS, help="parts to run (default: all)")
    args = parser.parse_args()
    parts = args.part or list(PARTS)
    if "parse" in parts or "arithmetic" in parts:
        arithmetic(args, parts)
    if any(part in parts for part in PARTS[2:]):
        import bench_jobs_db as db_parts

        files = db_parts.year_files()
        exact = True
        if "conservation" in parts:
            exact = db_parts.part_conservation(files)
        if "ingest" in parts:
            db_parts.part_ingest(files, args.jobs)
        if "pull" in parts:
            db_parts.part_pull(files, args.repeats)
        if "io" in parts:
            db_parts.part_io(files, max(args.repeats, 5), args.jobs)
        if not exact:
            raise SystemExit(1)


PARTS = ("parse", "arithmetic", "conservation", "ingest", "pull", "io")


def arithmetic(args, parts: list[str]) -> None:  # type: ignore[no-untyped-def]
    """The pure parts: parsing a year of sacct output, and the arithmetic of the attribution on synthetic cells."""
    print(f"sacct output of a year, {len(NODES)} nodes, {args.jobs:,} jobs (seed {args.seed})")
    text, _ = timed("generate (no target)", lambda: generate(args.jobs, args.seed))
    print(f"  {'size':<48}{len(text) / 1e6:7.1f} MB")
    output, parse_cpu = timed("parse_sacct", lambda: parse_sacct(text, ZONE), args.repeats)
    print(f"  {'jobs read / lines rejected':<48}{len(output.jobs):>7,} / {len(output.rejected):,}")
    print(f"  {'jobs per CPU second':<48}{len(output.jobs) / parse_cpu:7,.0f}")
    for bad in output.rejected[:5]:
        print(f"    line {bad.line}: {bad.reason}")
    if "arithmetic" not in parts:
        return

    if "arithmetic" not in parts:
        return
    print(f"attribution of {args.sessions:,} sessions to those jobs")
    now = int(YEAR_START.timestamp()) + YEAR
    (placements, _, _), _ = timed("placements (Job records -> arrays, no target)", lambda: placements_of(output.jobs))
    rows = sessions(placements, now, args.sessions, args.seed)
    result, _ = timed("attribute (all of it)", lambda: attribute(rows, placements, now), args.repeats)
    first, end = int(rows.hour.min()), int(rows.hour.max()) + HOUR
    hours, _ = timed("  job_hours (every cell, not only those with IO)", lambda: job_hours(placements, now, first, end))
    shares, _ = timed("  hour_shares (of those)", lambda: hour_shares(hours))
    timed("  split_rows", lambda: split_rows(rows, shares))
    given = result.outside.copy()
    np.add.at(given, result.row, result.ops)
    exact = np.array_equal(given, rows.ops)
    print(f"  {'stored rows / job placements / job-hours':<48}{len(rows.ops):>7,} / {len(placements.job):,} / "
          f"{len(hours.job):,}")  # fmt: skip
    print(f"  {'(row, job) counts attributed':<48}{len(result.row):>7,}")
    print(f"  {'operations outside jobs':<48}{result.outside.sum() / rows.ops.sum():7.1%}")
    print(f"  {'conservation (attributed + outside == stored)':<48}{'exact' if exact else 'BROKEN':>7}")
    if not exact:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
