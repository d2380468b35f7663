"""The demo cluster hour by hour: jobs rather than independent hours (a job is one user working on one machine for a
few hours, so the same keys recur hour after hour as in the real data), activity that follows the working day and
the week, course accounts in bursts during lab sessions, and a tracer that is down now and then.

Everything is driven by one ``random.Random(seed)``: the same seed and start give the same hours. Standard library
only, on purpose: the generator must stay trustworthy as a test oracle whatever happens to the rest of clusterdash.
"""

from __future__ import annotations

import itertools
import math
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from clusterdash.db.periods import HOUR
from clusterdash.ingest.synthetic.population import (
    COURSES,
    SERVICE_HOSTS,
    Machine,
    User,
    machine_for,
    make_course_accounts,
    make_people,
)
from clusterdash.ingest.synthetic.render import (
    FIRST_POWER,
    N_BUCKETS,
    SERVER_TZ,
    header_line,
    histogram_rows,
    log_line,
)
from clusterdash.ingest.synthetic.slurm import Started

SERVICE_HOURS = sys.maxsize  # the service jobs never end

# Relative rate of new jobs by local hour: quiet at night, busy from 9 to 18.
DIURNAL = (
    0.35,
    0.3,
    0.25,
    0.25,
    0.25,
    0.3,
    0.45,
    0.7,
    1.1,
    1.5,
    1.7,
    1.7,
    1.5,
    1.6,
    1.8,
    1.8,
    1.7,
    1.5,
    1.2,
    1.0,
    0.9,
    0.8,
    0.6,
    0.45,
)
WEEKLY = (1.0, 1.05, 1.05, 1.0, 0.9, 0.45, 0.4)  # Monday .. Sunday
# Weekly lab sessions of the courses: (weekday, local hour it starts, hours).
LAB_SESSIONS = {COURSES[0]: (1, 14, 2), COURSES[1]: (3, 10, 2)}
HOMEWORK_JOBS_PER_HOUR = 0.4  # course accounts working alone, at activity 1.0

JOB_STARTS_PER_HOUR = 4.1  # at activity 1.0
MEAN_JOB_HOURS = 4.0
WRITE_CHANCE = 0.33  # share of job-hours that also write
READ_CHANCE = 0.93  # a few job-hours only write
HOURS_BETWEEN_GAPS = 36  # the real month: 20 gaps of about two hours
LOST_EVENTS_PER_HOUR = 4 / 720  # "Lost N events" a few times a month

# Operations per hour of a job: (log median, log spread between jobs).  Light
# jobs (editing, compiling, small scripts) make the median entry of ~650
# operations; heavy ones (training on a data set) make the tail.
LIGHT_JOB_OPS = (math.log(700), 1.4)
HEAVY_JOB_OPS = (math.log(50_000), 0.8)
COURSE_JOB_OPS = (math.log(150), 1.2)
HOURLY_OPS_SPREAD = 0.6  # the same job varies from hour to hour
LIGHT_JOBS_READING_LARGE_FILES = 0.25  # some 1 MiB transfers even in light jobs
MAX_OPS_PER_HOUR = 2_000_000  # saturation: the real maximum is 1.1M operations per entry-hour
HEAVY_JOB_OPS_ABOVE = 10_000  # typical reads per hour above which a job counts as heavy (for its Slurm allocation)


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: fine for the small means used here (a handful per hour).
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _bump(center: int, width: float) -> tuple[float, ...]:
    weights = [math.exp(-((i - center) ** 2) / (2 * width * width)) for i in range(N_BUCKETS)]
    total = sum(weights)
    return tuple(w / total for w in weights)


# Gaussian bumps in log2(size), precomputed once so a job's profile is a cheap mix.
_BUMP_WIDTHS = (0.5, 0.75, 1.1, 1.5)
_BUMPS = {(c, w): _bump(c, w) for c in range(N_BUCKETS) for w in _BUMP_WIDTHS}
_IDX_4K = 12 - FIRST_POWER  # page-sized IO
_IDX_1M = 20 - FIRST_POWER  # a full NFS rsize/wsize transfer


def _job_profile(rng: random.Random, heavy: bool) -> tuple[float, ...]:
    """Share of a job's operations per bucket: a mix of a few typical IO sizes.

    Heavy jobs stream data sets, so most of their operations are full 1 MiB NFS
    transfers, which is why `[1M, 2M)` carries the most operations overall;
    light jobs read configuration, code and small files around the page size.
    """
    parts: list[tuple[float, tuple[float, ...]]] = []
    if heavy:
        parts.append((rng.uniform(0.5, 0.9), _BUMPS[_IDX_1M, _BUMP_WIDTHS[0]]))
    elif rng.random() < LIGHT_JOBS_READING_LARGE_FILES:
        parts.append((rng.uniform(0.05, 0.3), _BUMPS[_IDX_1M, _BUMP_WIDTHS[0]]))
    parts.append((rng.uniform(0.2, 1.0), _BUMPS[_IDX_4K + rng.randint(-3, 1), rng.choice(_BUMP_WIDTHS)]))
    if rng.random() < 0.35:
        parts.append((rng.uniform(0.05, 0.4), _BUMPS[rng.randint(2, N_BUCKETS - 2), rng.choice(_BUMP_WIDTHS)]))
    total = sum(w for w, _ in parts)
    mixed = [0.0] * N_BUCKETS
    for w, bump in parts:
        share = w / total
        for i, p in enumerate(bump):
            mixed[i] += share * p
    return tuple(mixed)


@dataclass
class _Job:
    user: User
    machine: Machine
    hours_left: int
    read_ops: float  # typical read operations per hour
    write_ops: float
    read_profile: tuple[float, ...]
    write_profile: tuple[float, ...]
    write_chance: float  # chance per hour that the job writes at all
    read_chance: float = READ_CHANCE


def _new_job(rng: random.Random, user: User, machine: Machine, hours: int, heavy: bool | None = None) -> _Job:
    if heavy is None:
        heavy = rng.random() < user.heavy_chance
    if user.role == "ueb":
        log_median, spread = COURSE_JOB_OPS
    else:
        log_median, spread = HEAVY_JOB_OPS if heavy else LIGHT_JOB_OPS
    read_ops = rng.lognormvariate(log_median, spread)
    write_ops = read_ops * rng.lognormvariate(-1.2, 1.0)
    return _Job(
        user=user,
        machine=machine,
        hours_left=hours,
        read_ops=read_ops,
        write_ops=write_ops,
        read_profile=_job_profile(rng, heavy),
        write_profile=_job_profile(rng, heavy and rng.random() < 0.5),
        write_chance=min(1.0, rng.expovariate(1 / WRITE_CHANCE)),
    )


def _ops_this_hour(rng: random.Random, typical: float) -> float:
    ops = typical * rng.lognormvariate(0, HOURLY_OPS_SPREAD)
    return ops / (1 + ops / MAX_OPS_PER_HOUR)  # a busy server saturates smoothly


def _bucket_counts(rng: random.Random, expected: list[float]) -> list[int]:
    # Random rounding of noisy expectations: thin buckets come out 0 or 1,
    # which is what leaves zero rows inside a histogram.
    counts = [int(e * rng.uniform(0.7, 1.3) + rng.random()) for e in expected]
    if not any(counts):
        counts[max(range(N_BUCKETS), key=expected.__getitem__)] = 1
    return counts


@dataclass
class Block:
    """One hour's text and what it holds."""

    lines: list[str]
    entries: int
    rows: int
    operations_rd: int
    operations_wr: int


def _clock_changes_near(epoch: int) -> bool:
    """Whether Zurich's UTC offset changes within a few hours of `epoch`."""
    before = datetime.fromtimestamp(epoch - 2 * HOUR, SERVER_TZ).utcoffset()
    after = datetime.fromtimestamp(epoch + 5 * HOUR, SERVER_TZ).utcoffset()
    return before != after


class Simulation:
    """The cluster hour by hour: who runs which jobs, and the tracer's state."""

    def __init__(self, seed: int, start_epoch: int, up_at: int | None = None) -> None:
        """The cluster from `start_epoch` on, for ever; up_at: the end of an hour the tracer is running in (no gap
        covers it), such as the last hour of a file that ends at the current hour."""
        self.rng = random.Random(seed)
        self.start_epoch = start_epoch
        self.up_at = up_at
        self.people = make_people(self.rng)
        self.course_accounts = make_course_accounts(self.rng, datetime.fromtimestamp(self.start_epoch, SERVER_TZ))
        self.cum_job_rates = list(itertools.accumulate(p.job_rate for p in self.people))
        self.started: list[Started] = []  # the people's jobs, in order: the batch jobs among them (synthetic/slurm)
        # Long-running light service jobs (monitoring, backups of home
        # directories) on staff accounts: no hour of the real log has fewer
        # than 2 entries.  Light, or one of them would dominate the month.
        staff = [p for p in self.people if p.role == "staff"]
        self.jobs = [
            _new_job(self.rng, self.rng.choice(staff), host, hours=SERVICE_HOURS, heavy=False) for host in SERVICE_HOSTS
        ]
        for job in self.jobs:
            job.read_chance = 1.0
            job.write_chance = 0.5  # services write (logs, dumps) too

    def hours(self) -> Iterator[Block | None]:
        """Hour after hour, endlessly: the block the tracer printed at the end of the hour, or None when it was
        down (a gap)."""
        rng = self.rng
        seconds_past_hour = 15  # bpftrace's interval timer fires a little after the hour
        gap_hours_left = 0
        restarted = False
        hours_to_next_gap = self._hours_to_next_gap()
        for hour_index in itertools.count():
            hour_end = self.start_epoch + (hour_index + 1) * HOUR
            self._start_jobs(datetime.fromtimestamp(hour_end, SERVER_TZ))

            # The tracer is down now and then: whole hours without a block.
            hours_to_next_gap -= 1
            if hours_to_next_gap == 0 and _clock_changes_near(hour_end):
                hours_to_next_gap = 6  # keep DST changes visible in the demo: postpone
            elif hours_to_next_gap == 0:
                gap_hours_left = rng.choice((1, 2, 2, 2, 2, 3))
                hours_to_next_gap = gap_hours_left + self._hours_to_next_gap()
                if self.up_at is not None and hour_end <= self.up_at:
                    gap_hours_left = min(gap_hours_left, (self.up_at - hour_end) // HOUR)
            if gap_hours_left:
                gap_hours_left -= 1
                restarted = True
                yield None
            else:
                if restarted:
                    seconds_past_hour = rng.randint(1, 30)  # a new run fires at a new second
                    restarted = False
                yield self._render_block(hour_index, hour_end + seconds_past_hour)

            for job in self.jobs:
                job.hours_left -= 1
            self.jobs = [job for job in self.jobs if job.hours_left > 0]

    def _hours_to_next_gap(self) -> int:
        # Spread more evenly than a Poisson process, so every month gets ~20.
        return max(1, round(self.rng.uniform(0.25, 1.75) * HOURS_BETWEEN_GAPS))

    def _start_jobs(self, local: datetime) -> None:
        rng = self.rng
        activity = DIURNAL[local.hour] * WEEKLY[local.weekday()]
        for _ in range(_poisson(rng, JOB_STARTS_PER_HOUR * activity)):
            person = rng.choices(self.people, cum_weights=self.cum_job_rates)[0]
            hours = 1 + int(rng.expovariate(1 / (MEAN_JOB_HOURS - 0.5)))
            job = _new_job(rng, person, machine_for(rng, person), hours)
            self.jobs.append(job)
            heavy = job.read_ops > HEAVY_JOB_OPS_ABOVE
            hour = int(local.timestamp()) - HOUR
            self.started.append(Started(hour, hours, person.login, person.affiliation, job.machine.name, heavy))
        # Lab sessions: a whole class logs in at once (the real peaks of ~86 entries).
        for course, (weekday, first_hour, length) in LAB_SESSIONS.items():
            if local.weekday() == weekday and local.hour == first_hour:
                turnout = rng.uniform(0.35, 0.95)
                for account in self.course_accounts:
                    if account.login.startswith(course) and rng.random() < turnout:
                        self.jobs.append(_new_job(rng, account, account.machines[0], rng.randint(1, length)))
        if rng.random() < HOMEWORK_JOBS_PER_HOUR * activity:
            account = rng.choice(self.course_accounts)
            self.jobs.append(_new_job(rng, account, account.machines[0], rng.randint(1, 3)))

    def _render_block(self, hour_index: int, epoch: int) -> Block:
        rng = self.rng
        # Jobs of one user on one machine add up: a key appears once per block.
        expected: dict[tuple[str, str, str], tuple[Machine, User, list[float]]] = {}
        for job in self.jobs:
            for direction, chance, typical, profile in (
                ("rd", job.read_chance, job.read_ops, job.read_profile),
                ("wr", job.write_chance, job.write_ops, job.write_profile),
            ):
                if rng.random() >= chance:
                    continue
                ops = _ops_this_hour(rng, typical)
                key = (direction, job.machine.name, job.user.login)
                sums = expected.setdefault(key, (job.machine, job.user, [0.0] * N_BUCKETS))[2]
                for i, share in enumerate(profile):
                    sums[i] += ops * share

        entries: list[list[str]] = []
        rows = 0
        operations = {"rd": 0, "wr": 0}
        for direction in ("rd", "wr"):  # one bpftrace map after the other
            histograms = [
                (counts, machine, user)
                for (d, _, _), (machine, user, sums) in expected.items()
                if d == direction
                for counts in (_bucket_counts(rng, sums),)
            ]
            histograms.sort(key=lambda h: sum(h[0]))  # bpftrace prints a map in ascending order of totals
            for counts, machine, user in histograms:
                header = header_line(direction, machine.name, machine.type, user.login, user.status_at(hour_index))
                body = histogram_rows(counts)
                entries.append([header, *body, "\n"])
                rows += len(body)
                operations[direction] += sum(counts)

        lines = [log_line(epoch)]
        lost_before = rng.randrange(len(entries)) if entries and rng.random() < LOST_EVENTS_PER_HOUR else -1
        for k, entry in enumerate(entries):
            if k == lost_before:
                # The tracer's buffer overflowed while printing: this hour under-counts.
                lines.append(f"Lost {int(rng.lognormvariate(5, 1.5)) + 1} events\n")
            lines.extend(entry)
        return Block(lines, len(entries), rows, operations["rd"], operations["wr"])
