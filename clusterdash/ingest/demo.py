"""Synthetic ``io_usage.log`` files, calibrated to the real figures of March 2025.

The dashboard, the ingest tests and the benchmarks all need logs that look
like the real one (see ``/work/shared/spec/log-format.md``) without shipping
real usernames.  This module simulates *jobs* rather than drawing each hour
independently: a job is one user working on one machine for a few hours, so
the same keys recur hour after hour as they do in the real data, activity
follows the working day and the week, and course accounts show up in bursts
during lab sessions.

Everything is driven by one ``random.Random(seed)``: the same arguments give
byte-identical output.  Lines are produced one block (one hour) at a time, so
a year-sized file (~150 MB) is streamed, never held in memory.

Standard library only, on purpose: the generator must stay usable (and
trustworthy as a test oracle) whatever happens to the rest of clusterdash.
"""

from __future__ import annotations

import gzip
import itertools
import math
import os
import random
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

__all__ = ["DemoSummary", "generate_lines", "ingest_demo", "write_demo_log"]

SERVER_TZ = ZoneInfo("Europe/Zurich")  # the NFS server's local time, as in the real log
DEFAULT_START = datetime(2025, 3, 1, tzinfo=SERVER_TZ)  # the month holds the 2025-03-30 DST jump
HOUR = 3600
# What bpftrace prints when it starts: reads, writes and the hourly interval.
ATTACHING_LINE = "Attaching 3 probes...\n"

# --- bpftrace hist() rendering ---------------------------------------------

BAR_WIDTH = 52
# Size buckets [2^i, 2^(i+1)) for i = 1..20, i.e. "[2, 4)" .. "[1M, 2M)": the
# range the real server shows (NFS never moves more than 1 MiB per call).
FIRST_POWER, LAST_POWER = 1, 20
N_BUCKETS = LAST_POWER - FIRST_POWER + 1


def _size_label(value: int) -> str:
    """bpftrace's short form of a power of two: 512, 1K, 2M (powers of 1024)."""
    for shift, suffix in ((40, "T"), (30, "G"), (20, "M"), (10, "K")):
        if value >= 1 << shift:
            return f"{value >> shift}{suffix}"
    return str(value)


BUCKET_LABELS = tuple(f"[{_size_label(2**p)}, {_size_label(2 ** (p + 1))})" for p in range(FIRST_POWER, LAST_POWER + 1))
_FLOAT32 = struct.Struct("f")


def _to_float32(x: float) -> float:
    return _FLOAT32.unpack(_FLOAT32.pack(x))[0]


def _bar_length(count: int, max_count: int) -> int:
    # bpftrace computes `count / (float)max * 52` in single precision and
    # truncates; doing the same keeps the bars byte-identical to the real tool
    # even where a double would land on the other side of an integer.
    return int(_to_float32(_to_float32(count / max_count) * BAR_WIDTH))


def _histogram_rows(counts: list[int]) -> list[str]:
    """Rows from the first to the last non-zero bucket, zeros in between kept."""
    nonzero = [i for i, c in enumerate(counts) if c]
    first, last = nonzero[0], nonzero[-1]
    max_count = max(counts)
    rows = []
    for i in range(first, last + 1):
        count = counts[i]
        bar = "@" * _bar_length(count, max_count)
        rows.append(f"{BUCKET_LABELS[i]:<16}{count:>8} |{bar:<{BAR_WIDTH}}|\n")
    return rows


# --- the population: machines and users ------------------------------------


@dataclass(frozen=True)
class _Machine:
    name: str
    type: str  # "tik" or "itet": which institute owns the box


MACHINES_TIK = tuple(
    [f"tikgpu{i:02d}" for i in range(1, 11)]
    + ["tik42x"]
    + [f"snowflake{i:02d}" for i in range(1, 9)]
    + ["tardis-a11", "polaris"]
)
MACHINES_ITET = tuple([f"arton{i:02d}" for i in range(1, 12)] + [f"artongpu{i:02d}" for i in range(1, 8)])
ALL_MACHINES = tuple(_Machine(n, "tik") for n in MACHINES_TIK) + tuple(_Machine(n, "itet") for n in MACHINES_ITET)
SERVICE_HOSTS = tuple(m for m in ALL_MACHINES if m.name in ("polaris", "tik42x"))  # never idle
MACHINES_BY_TYPE = {t: tuple(m for m in ALL_MACHINES if m.type == t) for t in ("tik", "itet")}
# Course accounts work in the student pool (the snowflakes) and on a few artons.
LAB_MACHINES = tuple(m for m in ALL_MACHINES if m.name.startswith("snowflake") or m.name in ("arton01", "arton02"))

# Users per role as seen in the real month; "ueb" (Uebung = exercise) are course accounts.
ROLE_COUNTS = {"guest": 39, "staff": 9, "stud": 9, "ueb": 74}
COURSES = ("hodl", "dlsp")  # course-account prefixes, e.g. hodl_001fs25
ITET_SHARE_OF_PEOPLE = 0.14  # most users belong to tik, some to itet
HOME_MACHINE_CHANCE = 0.7
TIK_SHARE_ELSEWHERE = 0.7  # the real month: 78 % of entries on tik machines, all told
ROLE_CHANGERS = 3  # a few people change role once (a student hired as staff, ...)

_LOGIN_HEADS = ("b", "ch", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "sch", "t", "v", "w", "z")
_LOGIN_VOWELS = ("a", "e", "i", "o", "u", "ae", "ei", "ue")
_LOGIN_TAILS = ("", "n", "r", "l", "s", "tt", "ck", "ng", "rt", "nd", "ller", "mann", "berg")


@dataclass
class _User:
    login: str
    role: str
    affiliation: str
    job_rate: float  # relative chance that a new job is this user's (0: course accounts, see lab sessions)
    heavy_chance: float  # chance that a job of theirs streams a data set
    machines: list[_Machine]  # where this user usually works
    role_change: tuple[int, str] | None = None  # (hour index, new role)

    def status_at(self, hour_index: int) -> str:
        role = self.role
        if self.role_change and hour_index >= self.role_change[0]:
            role = self.role_change[1]
        return f"{role}/{self.affiliation}"


def _invent_login(rng: random.Random, taken: set[str]) -> str:
    # Real logins are a first initial plus a (shortened) surname, <= 8 chars.
    while True:
        surname = rng.choice(_LOGIN_HEADS) + rng.choice(_LOGIN_VOWELS) + rng.choice(_LOGIN_TAILS)
        if rng.random() < 0.4:
            surname += rng.choice(_LOGIN_VOWELS[:5]) + rng.choice(_LOGIN_TAILS[1:8])
        login = (rng.choice("abcdefghijklmnoprstuvwz") + surname)[:8]
        if rng.random() < 0.1:
            login = login[:7] + str(rng.randint(1, 9))  # the second "mmuster"
        if login not in taken:
            taken.add(login)
            return login


def _pick_machines(rng: random.Random, affiliation: str, count: int) -> list[_Machine]:
    # Institutes mostly use their own boxes; itet's machines are shared a bit.
    own_type_share = 0.85 if affiliation == "tik" else 0.75
    chosen: list[_Machine] = []
    while len(chosen) < count:
        want = affiliation if rng.random() < own_type_share else ("itet" if affiliation == "tik" else "tik")
        machine = rng.choice(MACHINES_BY_TYPE[want])
        if machine not in chosen:
            chosen.append(machine)
    return chosen


def _machine_for(rng: random.Random, person: _User) -> _Machine:
    # People mostly work on their usual boxes; otherwise the batch system
    # places the job anywhere, tik's machines being the larger share.
    if rng.random() < HOME_MACHINE_CHANCE:
        return rng.choice(person.machines)
    return rng.choice(MACHINES_BY_TYPE["tik" if rng.random() < TIK_SHARE_ELSEWHERE else "itet"])


def _semester_suffix(start: datetime) -> str:
    # ETH semesters: spring (fs) February-July, autumn (hs) otherwise.
    local = start.astimezone(SERVER_TZ)
    if 2 <= local.month <= 7:
        return f"fs{local.year % 100:02d}"
    year = local.year if local.month >= 8 else local.year - 1
    return f"hs{year % 100:02d}"


def _make_people(rng: random.Random, total_hours: int) -> list[_User]:
    """Guests, staff and students, heaviest first."""
    taken: set[str] = set()
    people: list[_User] = []
    roles = ["guest"] * ROLE_COUNTS["guest"] + ["staff"] * ROLE_COUNTS["staff"] + ["stud"] * ROLE_COUNTS["stud"]
    rng.shuffle(roles)  # who is heavy is independent of role
    for rank, role in enumerate(roles, start=1):
        affiliation = "itet" if rng.random() < ITET_SHARE_OF_PEOPLE else "tik"
        people.append(
            _User(
                login=_invent_login(rng, taken),
                role=role,
                affiliation=affiliation,
                # A user's share of all operations ~ (rank + 1) ** -1.4, which
                # gives the real top-1 (22 %) and top-10 (71 %) shares; split
                # into "starts more jobs" and "more of them are heavy" so that
                # entry counts are concentrated too, but less.
                job_rate=(rank + 1) ** -0.6,
                heavy_chance=0.6 * ((rank + 1) / 2) ** -0.8,
                machines=_pick_machines(rng, affiliation, rng.choice((1, 1, 2, 2, 3, 4))),
            )
        )
    # Every machine of the cluster shows up in a month: give idle ones a user.
    used = {m for p in people for m in p.machines}
    for machine in ALL_MACHINES:
        if machine not in used:
            rng.choice(people).machines.append(machine)
    for person in rng.sample(people, ROLE_CHANGERS):
        new_role = {"stud": "staff", "guest": "stud", "staff": "guest"}[person.role]
        person.role_change = (rng.randrange(total_hours // 4, 3 * total_hours // 4 + 1), new_role)
    return people


def _make_course_accounts(rng: random.Random, start: datetime) -> list[_User]:
    suffix = _semester_suffix(start)
    per_course = -(-ROLE_COUNTS["ueb"] // len(COURSES))
    return [
        _User(
            login=f"{COURSES[k // per_course]}_{k % per_course + 1:03d}{suffix}",
            role="ueb",
            affiliation="tik",
            job_rate=0.0,
            heavy_chance=0.0,
            machines=[rng.choice(LAB_MACHINES)],
        )
        for k in range(ROLE_COUNTS["ueb"])
    ]


# --- activity over time ------------------------------------------------------

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


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: fine for the small means used here (a handful per hour).
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


# --- bucket profiles ---------------------------------------------------------


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
    user: _User
    machine: _Machine
    hours_left: int
    read_ops: float  # typical read operations per hour
    write_ops: float
    read_profile: tuple[float, ...]
    write_profile: tuple[float, ...]
    write_chance: float  # chance per hour that the job writes at all
    read_chance: float = READ_CHANCE


def _new_job(rng: random.Random, user: _User, machine: _Machine, hours: int, heavy: bool | None = None) -> _Job:
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


# --- the log -----------------------------------------------------------------


@dataclass(frozen=True)
class DemoSummary:
    """What write_demo_log wrote; bytes_written counts the uncompressed text."""

    blocks: int
    entries: int
    rows: int
    operations_rd: int
    operations_wr: int
    bytes_written: int


@dataclass
class _Block:
    lines: list[str]
    entries: int
    rows: int
    operations_rd: int
    operations_wr: int


def _start_epoch(start: datetime | None) -> int:
    if start is None:
        start = DEFAULT_START
    if start.tzinfo is None:
        start = start.replace(tzinfo=SERVER_TZ)  # naive means server-local wall time
    return int(start.timestamp())


def _clock_changes_near(epoch: int) -> bool:
    """Whether Zurich's UTC offset changes within a few hours of `epoch`."""
    before = datetime.fromtimestamp(epoch - 2 * HOUR, SERVER_TZ).utcoffset()
    after = datetime.fromtimestamp(epoch + 5 * HOUR, SERVER_TZ).utcoffset()
    return before != after


class _Simulation:
    """The cluster hour by hour: who runs which jobs, and the tracer's state."""

    def __init__(self, days: int, seed: int, start: datetime | None) -> None:
        self.rng = random.Random(seed)
        self.start_epoch = _start_epoch(start)
        self.total_hours = days * 24
        self.people = _make_people(self.rng, self.total_hours)
        self.course_accounts = _make_course_accounts(self.rng, datetime.fromtimestamp(self.start_epoch, SERVER_TZ))
        self.cum_job_rates = list(itertools.accumulate(p.job_rate for p in self.people))
        # Long-running light service jobs (monitoring, backups of home
        # directories) on staff accounts: no hour of the real log has fewer
        # than 2 entries.  Light, or one of them would dominate the month.
        staff = [p for p in self.people if p.role == "staff"]
        self.jobs = [
            _new_job(self.rng, self.rng.choice(staff), host, hours=self.total_hours + 1, heavy=False)
            for host in SERVICE_HOSTS
        ]
        for job in self.jobs:
            job.read_chance = 1.0
            job.write_chance = 0.5  # services write (logs, dumps) too

    def blocks(self) -> Iterator[_Block]:
        rng = self.rng
        seconds_past_hour = 15  # bpftrace's interval timer fires a little after the hour
        gap_hours_left = 0
        restarted = False
        hours_to_next_gap = self._hours_to_next_gap()
        for hour_index in range(self.total_hours):
            hour_end = self.start_epoch + (hour_index + 1) * HOUR
            self._start_jobs(datetime.fromtimestamp(hour_end, SERVER_TZ))

            # The tracer is down now and then: whole hours without a block.
            hours_to_next_gap -= 1
            if hours_to_next_gap == 0 and _clock_changes_near(hour_end):
                hours_to_next_gap = 6  # keep DST changes visible in the demo: postpone
            elif hours_to_next_gap == 0:
                gap_hours_left = rng.choice((1, 2, 2, 2, 2, 3))
                hours_to_next_gap = gap_hours_left + self._hours_to_next_gap()
            if gap_hours_left:
                gap_hours_left -= 1
                restarted = True
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
            self.jobs.append(_new_job(rng, person, _machine_for(rng, person), hours))
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

    def _render_block(self, hour_index: int, epoch: int) -> _Block:
        rng = self.rng
        # Jobs of one user on one machine add up: a key appears once per block.
        expected: dict[tuple[str, str, str], tuple[_Machine, _User, list[float]]] = {}
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
                status = user.status_at(hour_index)
                header = f"@{direction}_client({machine.name},{machine.type})[{user.login}({status})]:\n"
                body = _histogram_rows(counts)
                entries.append([header, *body, "\n"])
                rows += len(body)
                operations[direction] += sum(counts)

        wall = datetime.fromtimestamp(epoch, SERVER_TZ).strftime("%Y-%m-%d %H:%M:%S")
        lines = [f"Log: {wall} ({epoch})\n"]
        lost_before = rng.randrange(len(entries)) if entries and rng.random() < LOST_EVENTS_PER_HOUR else -1
        for k, entry in enumerate(entries):
            if k == lost_before:
                # The tracer's buffer overflowed while printing: this hour under-counts.
                lines.append(f"Lost {int(rng.lognormvariate(5, 1.5)) + 1} events\n")
            lines.extend(entry)
        return _Block(lines, len(entries), rows, operations["rd"], operations["wr"])


def generate_lines(days: int = 30, seed: int = 0, start: datetime | None = None) -> Iterator[str]:
    """Yield the lines of a synthetic io_usage.log, each ending in "\\n".

    `days` * 24 hourly blocks from `start` (default 2025-03-01 00:00
    Europe/Zurich; a naive datetime is read as Zurich wall time).  A block
    covers the hour before its time stamp, so the first is stamped about one
    hour after `start`.  Streams: only one hour is held in memory.
    """
    yield ATTACHING_LINE
    for block in _Simulation(days, seed, start).blocks():
        yield from block.lines


def write_demo_log(
    path: str | os.PathLike[str], days: int = 30, seed: int = 0, start: datetime | None = None
) -> DemoSummary:
    """Write generate_lines(days, seed, start) to `path`, gzip-compressed if it ends in .gz."""
    blocks = entries = rows = operations_rd = operations_wr = bytes_written = 0
    with open(path, "wb") as raw:
        # mtime=0 and no name in the gzip header keep .gz output reproducible too.
        gzipped = os.fspath(path).endswith(".gz")
        out = gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) if gzipped else raw
        try:
            data = ATTACHING_LINE.encode("ascii")
            out.write(data)
            bytes_written += len(data)
            for block in _Simulation(days, seed, start).blocks():
                data = "".join(block.lines).encode("ascii")
                out.write(data)
                bytes_written += len(data)
                blocks += 1
                entries += block.entries
                rows += block.rows
                operations_rd += block.operations_rd
                operations_wr += block.operations_wr
        finally:
            if gzipped:
                out.close()
    return DemoSummary(blocks, entries, rows, operations_rd, operations_wr, bytes_written)


def ingest_demo(
    engine,
    path: str | os.PathLike[str],
    days: int = 30,
    seed: int = 0,
    progress: bool | None = None,
    on_written: Callable[[DemoSummary], None] | None = None,
):
    """Write a demo log to `path` (its folder created) and ingest it into `engine`'s database, which its caller has
    prepared (db.setup.prepare_database): what `clusterdash demo`, `serve --demo`, the screenshots and the browser
    tests start from. `on_written` hears about the log before the (longer) ingest begins. Returns the ingest's
    report."""
    from clusterdash.ingest.pipeline import ingest_paths

    os.makedirs(os.path.dirname(os.fspath(path)) or ".", exist_ok=True)
    written = write_demo_log(path, days=days, seed=seed)
    if on_written is not None:
        on_written(written)
    return ingest_paths(engine, [os.fspath(path)], progress=progress)
