"""Attributing IO to Slurm jobs: the arithmetic, in numpy, for many (hour, user, machine) cells at once. No SQL.

The model. The tracer counts a user's operations on a machine per hour, not per moment, so the IO of a cell
(hour, user, machine) is taken as spread evenly over the hour. At each moment it belongs to that user's jobs
running on that machine then, shared in proportion to their CPUs there; a moment when none of them runs is
"outside jobs" (a login shell, interactive work, a job missing from the sacct window). Hence a job's share of the
cell is the integral over the hour of cpus_job / cpus_of_all_running_jobs(t) dt / 3600, and outside's share is
the part of the hour no job covers. Examples: two jobs running the whole hour with 4 and 2 CPUs take 2/3 and 1/3;
a 64-CPU job running only the second half-hour takes 1/2 and outside keeps 1/2 (its CPUs say nothing about the
first half-hour, when it was not running). A job never takes IO from a moment when it was not running, so an admin
can check any share against the job's start and end. Concurrent non-job activity during a job is counted as the
job's: hourly counts cannot tell them apart.

CPUs on a machine. A placement is one (job, machine); its CPUs there are the caller's when known (AllocTRES gives
only the total), else `node_cpus`: the total split evenly over the job's nodes in whole CPUs, the remainder going to
the first nodes in NodeList order (10 CPUs on 3 nodes: 4, 3, 3), and 1 per node when the total is unknown.

Exact integers. Shares are integer weights in 1/WEIGHT_SCALE of a second (5040 = 7!, so the common CPU counts
divide it: a job alone, or jobs whose CPU counts divide 5040 x the seconds, get exact weights; otherwise a
segment's weight is rounded down, by at most one unit of 1/5040 s). Each stored row (hour, user, machine,
direction, size bucket) is then split by the largest-remainder method: every participant (outside and each job)
gets the floor of its exact quota ops x weight / total, and the operations left over go one each to the largest
remainders, ties to outside first, then to the lower job id. So, for every row, attributed + outside == stored
exactly, and each participant's count is within one operation of its exact proportional quota.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from clusterdash.db.periods import HOUR

WEIGHT_SCALE = 5040  # weight units per second of a whole cell's IO
NO_END = -1  # the end of a job still running: it counts until `now`
_I64 = np.int64


def _ints(values: object) -> np.ndarray:
    return np.asarray(values, dtype=_I64)


@dataclass(frozen=True)
class Placements:
    """Jobs as the attribution needs them: one row per (job, machine) the job ran on. Only started jobs."""

    job: np.ndarray  # job id (job_id_raw): names the job in the output and breaks ties
    user: np.ndarray  # user id, as in the IO rows
    machine: np.ndarray  # machine id, as in the IO rows
    start: np.ndarray  # epoch
    end: np.ndarray  # epoch, or NO_END while running
    cpus: np.ndarray  # CPUs of the job on that machine (see node_cpus)


@dataclass(frozen=True)
class JobHours:
    """One row per (job, machine, hour) a job ran in: it ran from `first` to `last` seconds into the hour."""

    job: np.ndarray
    user: np.ndarray
    machine: np.ndarray
    hour: np.ndarray
    first: np.ndarray
    last: np.ndarray
    cpus: np.ndarray

    @property
    def seconds(self) -> np.ndarray:
        return self.last - self.first


@dataclass(frozen=True)
class Shares:
    """The weights of each cell that some job touched, cells in ascending (hour, user, machine) order. The jobs
    of cell i are job[bounds[i]:bounds[i + 1]] (ascending job id) with their weights; outside[i] is outside's."""

    hour: np.ndarray
    user: np.ndarray
    machine: np.ndarray
    outside: np.ndarray
    bounds: np.ndarray
    job: np.ndarray
    weight: np.ndarray

    @property
    def total(self) -> np.ndarray:
        """Each cell's total weight (WEIGHT_SCALE x 3600 except where a segment was rounded down)."""
        return self.outside + np.add.reduceat(self.weight, self.bounds[:-1]) if len(self.job) else self.outside


@dataclass(frozen=True)
class IORows:
    """Stored operation counts: one row per (hour, user, machine, direction, size bucket); only the cell and the
    count matter here, the caller keeps the rest by row index."""

    hour: np.ndarray  # the hour's start (a multiple of HOUR)
    user: np.ndarray
    machine: np.ndarray
    ops: np.ndarray


@dataclass(frozen=True)
class Attribution:
    """Row i of the input: outside[i] operations outside jobs, and for each k with row[k] == i, ops[k] operations
    of job[k] (only counts above zero). Per row, outside + the jobs' ops == the stored ops."""

    row: np.ndarray
    job: np.ndarray
    ops: np.ndarray
    outside: np.ndarray


def _within_hour(start: Any, stop: Any, hour: Any) -> tuple[Any, Any]:
    """Where [start, stop) lies in [hour, hour + HOUR), as seconds into the hour (first, last); last <= first
    when it does not. Ints or numpy arrays alike: the one rule for a job's seconds in an hour."""
    return np.clip(start - hour, 0, HOUR), np.clip(stop - hour, 0, HOUR)


def seconds_in_hour(hour: int, start: int | None, end: int | None, now: int) -> int:
    """A job's seconds inside [hour, hour + 3600); a job still running (end None) runs until `now`; a job that
    has not started (start None) has none."""
    if start is None:
        return 0
    first, last = _within_hour(start, now if end is None else end, hour)
    return max(int(last - first), 0)


def node_cpus(total: np.ndarray, nodes: np.ndarray, ordinal: np.ndarray) -> np.ndarray:
    """The CPUs on its `ordinal`-th node (0-based, NodeList order) of a job with `total` CPUs on `nodes` nodes:
    an even split in whole CPUs, the remainder to the first nodes, at least 1; `total` <= 0 (unknown): 1."""
    total, nodes, ordinal = _ints(total), np.maximum(_ints(nodes), 1), _ints(ordinal)
    split = total // nodes + (ordinal < total % nodes)
    return np.maximum(split, 1)


def cpus_per_node(total: int | None, nodes: int) -> list[int]:
    """node_cpus for one job: the CPUs on each of its nodes, in NodeList order."""
    count = max(nodes, 1)
    return node_cpus(np.full(count, total or 0), np.full(count, count), np.arange(count)).tolist()


def job_hours(placements: Placements, now: int, first_hour: int, end_hour: int) -> JobHours:
    """Cut each placement into the hours of [first_hour, end_hour) it ran in (running jobs up to `now`)."""
    if first_hour % HOUR or end_hour % HOUR:
        raise ValueError("first_hour and end_hour must be whole hours")
    start, end = _ints(placements.start), _ints(placements.end)
    stop = np.where(end == NO_END, now, end)
    lo, hi = np.maximum(start, first_hour), np.minimum(stop, end_hour)
    kept = np.flatnonzero(hi > lo)
    lo, hi = lo[kept], hi[kept]
    counts = (hi - 1) // HOUR - lo // HOUR + 1
    which = np.repeat(kept, counts)
    hour = np.repeat(lo // HOUR * HOUR, counts) + HOUR * _ramp(counts)
    first, last = _within_hour(np.repeat(lo, counts), np.repeat(hi, counts), hour)
    return JobHours(
        job=_ints(placements.job)[which],
        user=_ints(placements.user)[which],
        machine=_ints(placements.machine)[which],
        hour=hour,
        first=first,
        last=last,
        cpus=np.maximum(_ints(placements.cpus)[which], 1),
    )


def hour_shares(hours: JobHours) -> Shares:
    """The weights of the jobs and of outside in each cell the job-hours touch (see the module's model).

    Per cell, the hour is cut at every job's first and last second into segments; a segment of L seconds with
    C CPUs of the user's jobs running gives each of them cpus x (L x WEIGHT_SCALE // C), and outside its L x
    WEIGHT_SCALE when C is 0. Events of all cells are sorted once and cumulated, so the work is one sort."""
    n = len(hours.job)
    if n == 0:
        empty = np.zeros(0, dtype=_I64)
        return Shares(
            hour=empty,
            user=empty,
            machine=empty,
            outside=empty,
            bounds=np.zeros(1, dtype=_I64),
            job=empty,
            weight=empty,
        )
    (key,) = _keys((hours.hour, hours.user, hours.machine))
    _, first_piece, cell = np.unique(key, return_index=True, return_inverse=True)
    cell = cell.reshape(-1)
    n_cells = len(first_piece)
    span = HOUR + 1
    first, last, cpus = _ints(hours.first), _ints(hours.last), _ints(hours.cpus)
    # Starts precede ends in the stable order at equal times, so the running count never dips below zero.
    events = np.concatenate([cell * span + first, cell * span + last])
    order = np.argsort(events, kind="stable")
    events = events[order]
    running = np.cumsum(np.concatenate([cpus, -cpus])[order])
    event_cell, moment = events // span, events % span
    length = np.zeros(2 * n, dtype=_I64)
    length[:-1] = np.where(event_cell[1:] == event_cell[:-1], moment[1:] - moment[:-1], 0)
    busy = running > 0
    density = np.where(busy, length * WEIGHT_SCALE // np.maximum(running, 1), 0)
    covered = np.bincount(event_cell, weights=length * busy, minlength=n_cells).astype(_I64)
    prefix = np.concatenate([np.zeros(1, dtype=_I64), np.cumsum(density)])
    position = np.empty(2 * n, dtype=_I64)
    position[order] = np.arange(2 * n)
    piece_weight = cpus * (prefix[position[n:]] - prefix[position[:n]])

    by_job = np.lexsort((hours.job, cell))  # one weight per (cell, job), jobs ascending within a cell
    job_cell, job, weight = cell[by_job], _ints(hours.job)[by_job], piece_weight[by_job]
    new = np.flatnonzero(np.r_[True, (job_cell[1:] != job_cell[:-1]) | (job[1:] != job[:-1])])
    weight, job, job_cell = np.add.reduceat(weight, new), job[new], job_cell[new]
    bounds = np.searchsorted(job_cell, np.arange(n_cells + 1))
    outside = (HOUR - covered) * WEIGHT_SCALE
    void = np.flatnonzero(outside + np.add.reduceat(weight, bounds[:-1]) == 0)
    if len(void):  # every segment rounded to nothing (absurd CPU counts): share by seconds instead
        seconds = np.add.reduceat((last - first)[by_job], new)
        in_void = np.isin(job_cell, void)
        weight = np.where(in_void, seconds, weight)
    return Shares(
        hour=_ints(hours.hour)[first_piece],
        user=_ints(hours.user)[first_piece],
        machine=_ints(hours.machine)[first_piece],
        outside=outside,
        bounds=bounds,
        job=job,
        weight=weight,
    )


def split_rows(rows: IORows, shares: Shares) -> Attribution:
    """Split each row's operations between outside and the jobs of its cell, exactly (largest remainder)."""
    ops = _ints(rows.ops)
    if (ops < 0).any():
        raise ValueError("operation counts cannot be negative")
    outside_ops = ops.copy()
    empty = np.zeros(0, dtype=_I64)
    if len(ops) == 0 or len(shares.hour) == 0:
        return Attribution(empty, empty, empty, outside_ops)
    row_key, cell_key = _keys((rows.hour, rows.user, rows.machine), (shares.hour, shares.user, shares.machine))
    found = np.minimum(np.searchsorted(cell_key, row_key), len(cell_key) - 1)
    rows_in = np.flatnonzero((cell_key[found] == row_key) & (ops > 0))
    if len(rows_in) == 0:
        return Attribution(empty, empty, empty, outside_ops)
    cell = found[rows_in]
    total, row_ops = shares.total[cell], ops[rows_in]
    outside_q, outside_rem = _quota(row_ops, shares.outside[cell], total)
    counts = shares.bounds[cell + 1] - shares.bounds[cell]  # at least one job: cells come from job-hours
    pair_row = np.repeat(np.arange(len(rows_in)), counts)
    rank = _ramp(counts)
    pair = np.repeat(shares.bounds[cell], counts) + rank
    job_q, job_rem = _quota(row_ops[pair_row], shares.weight[pair], total[pair_row])
    row_starts = np.concatenate([np.zeros(1, dtype=_I64), np.cumsum(counts)[:-1]])
    leftover = row_ops - outside_q - np.add.reduceat(job_q, row_starts)
    short = np.flatnonzero(leftover > 0)
    if len(short):
        in_short = np.flatnonzero(leftover[pair_row] > 0)
        candidate_row = np.concatenate([short, pair_row[in_short]])
        remainder = np.concatenate([outside_rem[short], job_rem[in_short]])
        priority = np.concatenate([np.zeros(len(short), dtype=_I64), rank[in_short] + 1])  # outside, then job id
        order = np.lexsort((priority, -remainder, candidate_row))
        ranked_row = candidate_row[order]
        group_start = np.flatnonzero(np.r_[True, ranked_row[1:] != ranked_row[:-1]])
        place = np.arange(len(order)) - np.repeat(group_start, np.diff(np.r_[group_start, len(order)]))
        winners = order[place < leftover[ranked_row]]
        outside_q[short[winners[winners < len(short)]]] += 1
        job_q[in_short[winners[winners >= len(short)] - len(short)]] += 1
    outside_ops[rows_in] = outside_q
    given = np.flatnonzero(job_q > 0)
    return Attribution(rows_in[pair_row[given]], shares.job[pair[given]], job_q[given], outside_ops)


def attribute(rows: IORows, placements: Placements, now: int) -> Attribution:
    """The whole computation for the rows' hours: job-hours, shares, split. Jobs running at `now` count until it.
    Only the cells holding IO are weighed (a cell's shares depend on its own jobs alone)."""
    if len(rows.hour) == 0:
        return split_rows(rows, hour_shares(job_hours(placements, now, 0, 0)))
    first, end = int(np.min(rows.hour)), int(np.max(rows.hour)) + HOUR
    hours = job_hours(placements, now, first, end)
    hour_key, row_key = _keys((hours.hour, hours.user, hours.machine), (rows.hour, rows.user, rows.machine))
    wanted = np.isin(hour_key, row_key)
    hours = JobHours(*(getattr(hours, f.name)[wanted] for f in fields(JobHours)))
    return split_rows(rows, hour_shares(hours))


def _quota(ops: np.ndarray, weight: np.ndarray, total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """floor(ops x weight / total) and its remainder, without overflow: weight <= total < 2**31."""
    whole, part = np.divmod(ops, total)
    product = part * weight
    return whole * weight + product // total, product % total


def _ramp(counts: np.ndarray) -> np.ndarray:
    """0..counts[0]-1, 0..counts[1]-1, ... concatenated."""
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    return np.arange(total, dtype=_I64) - np.repeat(starts, counts)


def _keys(*groups: tuple[np.ndarray, np.ndarray, np.ndarray]) -> list[np.ndarray]:
    """One int64 per (hour, user, machine), in the same order as the triples, comparable across the groups."""
    hours = np.concatenate([_ints(group[0]) for group in groups])
    if (hours % HOUR).any():
        raise ValueError("hours must be whole hours (multiples of 3600)")
    users, user = np.unique(np.concatenate([_ints(group[1]) for group in groups]), return_inverse=True)
    machines, machine = np.unique(np.concatenate([_ints(group[2]) for group in groups]), return_inverse=True)
    hour = (hours - (hours.min() if len(hours) else 0)) // HOUR
    if (int(hour.max(initial=0)) + 1) * len(users) * len(machines) >= 2**62:
        raise ValueError("too many distinct hours, users and machines to key the cells")
    key = (hour * len(users) + user.reshape(-1)) * len(machines) + machine.reshape(-1)
    return np.split(key, np.cumsum([len(group[0]) for group in groups])[:-1])
