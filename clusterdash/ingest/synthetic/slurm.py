"""The demo cluster's Slurm accounting: the batch jobs the simulation started, as `sacct --parsable2 --noheader -X
--format=...` prints them (ingest/sacct.py's fields), in the server's local time.

A job of the simulation is one user's work on one machine for whole hours; most of them are batch jobs (the rest
are interactive logins, which sacct never lists, like the lab sessions, the course accounts' homework and the
staff's services: their IO is "outside jobs"). A batch job starts a few minutes into its first hour and ends a few
minutes before its last one ends, so the minutes around it are outside too, as on a real node.

Everything about a job that the IO log does not show (its id, CPUs, state, name...) is drawn from a random stream
of its own, seeded by the demo's seed and the job's number: the IO log stays byte for byte what it was, and the
same seed gives the same sacct output.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from clusterdash.db.periods import HOUR
from clusterdash.ingest.synthetic.render import SERVER_TZ

BATCH_SHARE = 0.85  # of the people's jobs; the rest are interactive logins
FIRST_JOB_ID = 400_000
ARRAY_CHANCE = 0.6  # a job started in the same hour by the same user continues that user's array
STATES = (("COMPLETED", 80), ("FAILED", 8), ("CANCELLED by {uid}", 5), ("TIMEOUT", 4), ("OUT_OF_MEMORY", 3))
NAMES = ("train", "eval", "preprocess", "sweep", "finetune", "simulate", "render", "run.sh", "jupyter", "bash")


@dataclass(frozen=True)
class Started:
    """A job the simulation started: its first hour, whole hours, user and machine."""

    hour: int  # epoch of the start of its first hour
    hours: int
    user: str
    affiliation: str
    machine: str
    heavy: bool


@dataclass(frozen=True)
class BatchJob:
    job_id: str
    job_id_raw: int
    user: str
    account: str
    partition: str
    submit: int
    start: int
    end: int  # when it ends (or ended): past `now`, sacct shows it RUNNING
    state: str
    cpus: int
    gpus: int
    mem: str
    machine: str
    name: str


def batch_jobs(started: Iterable[Started], seed: int) -> list[BatchJob]:
    """The batch jobs among the started ones, with ids, allocations and final states."""
    found: list[BatchJob] = []
    previous: tuple[int, str] | None = None
    array: tuple[int, int] | None = None  # (array id, next task)
    for number, job in enumerate(started):
        rng = random.Random(seed * 1_000_003 + number)
        if rng.random() >= BATCH_SHARE:
            continue
        raw = FIRST_JOB_ID + number
        if previous == (job.hour, job.user) and array is not None and rng.random() < ARRAY_CHANCE:
            job_id, array = f"{array[0]}_{array[1]}", (array[0], array[1] + 1)
        else:
            job_id, array = str(raw), (raw, 1)
        previous = (job.hour, job.user)
        start = job.hour + rng.randrange(30, 600)
        end = max(start + 60, job.hour + job.hours * HOUR - rng.randrange(0, 600))
        gpu = "gpu" in job.machine
        state = rng.choices([s for s, _ in STATES], [w for _, w in STATES])[0].format(uid=rng.randint(1000, 1999))
        found.append(
            BatchJob(
                job_id=job_id,
                job_id_raw=raw,
                user=job.user,
                account=job.affiliation,
                partition="gpu.normal" if gpu else "cpu.normal",
                submit=start - int(rng.expovariate(1 / 240)),
                start=start,
                end=end,
                state=state,
                cpus=rng.choice((4, 8, 16, 32) if job.heavy else (1, 2, 4)),
                gpus=rng.choice((1, 2, 4)) if gpu else 0,
                mem=rng.choice(("16G", "64G", "128G") if job.heavy else ("2G", "4G", "8G")),
                machine=job.machine,
                name=rng.choice(NAMES),
            )
        )
    return found


def _local(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, SERVER_TZ).strftime("%Y-%m-%dT%H:%M:%S")


def _elapsed(seconds: int) -> str:
    days, rest = divmod(max(seconds, 0), 86400)
    clock = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{clock}" if days else clock


def sacct_lines(found: Iterable[BatchJob], now: int, since: int | None = None) -> list[str]:
    """What sacct would print at `now` for the jobs running at some time in [since, now): the ones not started yet
    are left out, and those still running are RUNNING, with no end and the Elapsed so far."""
    lines = []
    for job in found:
        if job.start >= now or (since is not None and job.end <= since):
            continue
        running = job.end > now
        tres = f"billing={job.cpus},cpu={job.cpus},{f'gres/gpu={job.gpus},' if job.gpus else ''}mem={job.mem},node=1"
        fields = [
            job.job_id,
            str(job.job_id_raw),
            job.user,
            job.account,
            job.partition,
            "RUNNING" if running else job.state,
            _local(job.submit),
            _local(job.start),
            "Unknown" if running else _local(job.end),
            _elapsed((now if running else job.end) - job.start),
            "1",
            job.machine,
            tres,
            job.name,
        ]
        lines.append("|".join(fields) + "\n")
    return lines
