"""Keeping the attribution true whichever arrives first, IO or jobs: the IO of every cell (hour, user, machine)
that changed is shared again among the jobs stored for it, inside the writer's transaction, like the rollups.

* New IO (the Loader, before it commits): share_hours, for the hours its blocks report.
* New or changed jobs (store_jobs' spans): share_spans, for the hours, users and machines they ran in.

Both come down to `_share_box`: for a box of cells (hours x users x machines), read the stored sessions, the
jobs that ran there and the box's current JobUsage rows; share each session's operations (db/attribution.py,
exactly: its large and its small operations each by largest remainder); replace the box's JobUsage rows and add
the difference to JobDays. Sharing a cell again that did not change writes the same rows: a box may hold more
cells than changed, never fewer. Without any stored job, the IO side costs one look at JobsState.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields

import numpy as np
from sqlalchemy import BigInteger, Connection, Float, case, cast, delete, func, select

from clusterdash.db.attribution import IORows, Placements, attribute
from clusterdash.db.bulk import fetch_columns, insert_rows
from clusterdash.db.jobs.store import Span, longest_job
from clusterdash.db.periods import DAY, HOUR, ceil_hour, epoch_bounds, floor_hour, hour_of
from clusterdash.db.rollups.summarise import int_array
from clusterdash.db.rollups.write import upsert_sums
from clusterdash.db.schema import DIRECTIONS, job_days, job_nodes, job_usage, machines, user_sessions, users
from clusterdash.db.sums import sums_by_group

BOX_HOURS = 31 * 24  # a box's hours at most: what one step holds in memory is about a month of sessions
MAX_IDS = 500  # users or machines named in a box; more, and the box takes them all (more cells, same answer)
USAGE_COLUMNS = tuple(c.name for c in job_usage.columns)
_SESSION_AT = {column.name: i for i, column in enumerate(user_sessions.columns)}
_DIRECTION_NAMES = np.array(DIRECTIONS, dtype=object)


@dataclass(frozen=True)
class Box:
    """Cells to share again: the hours [first_hour, end_hour) of these users and machines (None: all)."""

    first_hour: int
    end_hour: int
    user_ids: tuple[int, ...] | None = None
    machine_ids: tuple[int, ...] | None = None


@dataclass
class Shared:
    """What sharing did: sessions read, JobUsage rows written (and removed) and the operations attributed."""

    sessions: int = 0
    rows: int = 0
    removed: int = 0
    operations: int = 0
    boxes: list[Box] = field(default_factory=list)

    def add(self, other: Shared) -> None:
        self.sessions += other.sessions
        self.rows += other.rows
        self.removed += other.removed
        self.operations += other.operations
        self.boxes.extend(other.boxes)


def share_hours(conn: Connection, spans: Iterable[tuple[int, int]], known: Sessions | None = None) -> Shared:
    """Share again the IO of these hours ([first, end) hour starts), every user and machine: new IO arrived
    there. Spans less than a day apart are shared as one (the hours between hold no new IO, and sharing them again
    writes what they hold): a month of log with its gaps is one step, not one per gap. `known`: sessions the
    caller has just stored (the Loader's), used for a box when they are all the box holds, instead of reading
    them back."""
    longest = longest_job(conn)
    shared = Shared()
    if longest is None:  # no job stored: nothing to share with
        return shared
    for first, end in _intervals(spans, slack=DAY):
        for box in _split(Box(first, end)):
            shared.add(_share_box(conn, box, longest, known))
    return shared


def share_spans(conn: Connection, spans: Iterable[Span]) -> Shared:
    """Share again the cells where these jobs ran (store_jobs' spans): jobs arrived or changed there."""
    spans = sorted(spans, key=lambda s: s.start)
    shared = Shared()
    longest = longest_job(conn)
    if not spans or longest is None:
        return shared
    groups: list[tuple[int, int, set[str], set[str]]] = []  # overlapping spans, by hour
    for span in spans:
        first, end = floor_hour(span.start), ceil_hour(span.end)
        if groups and first <= groups[-1][1]:
            low, high, names, nodes = groups[-1]
            names.add(span.user)
            nodes.update(span.machines)
            groups[-1] = (low, max(high, end), names, nodes)
        else:
            groups.append((first, end, {span.user}, set(span.machines)))
    for first, end, names, nodes in groups:
        user_ids = _ids(conn, users.c.id, users.c.username, names)
        machine_ids = _ids(conn, machines.c.id, machines.c.name, nodes)
        if user_ids == () or machine_ids == ():  # no IO of theirs stored: no cell to share
            continue
        for box in _split(Box(first, end, user_ids, machine_ids)):
            shared.add(_share_box(conn, box, longest))
    return shared


def _intervals(spans: Iterable[tuple[int, int]], slack: int = 0) -> list[tuple[int, int]]:
    """[first, end) intervals merged where they overlap, touch or lie less than `slack` seconds apart."""
    merged: list[tuple[int, int]] = []
    for first, end in sorted(spans):
        if merged and first <= merged[-1][1] + slack:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((first, end))
    return merged


def _split(box: Box) -> list[Box]:
    return [
        Box(first, min(first + BOX_HOURS * HOUR, box.end_hour), box.user_ids, box.machine_ids)
        for first in range(box.first_hour, box.end_hour, BOX_HOURS * HOUR)
    ]


def _ids(conn: Connection, id_col, name_col, names: set[str]) -> tuple[int, ...] | None:
    """The ids of these names; None (all) when there are more than MAX_IDS of them."""
    if len(names) > MAX_IDS:
        return None
    return tuple(sorted(conn.execute(select(id_col).where(name_col.in_(sorted(names)))).scalars()))


def _in_box(box: Box, user_col, machine_col) -> list:
    clauses = []
    if box.user_ids is not None:
        clauses.append(user_col.in_(box.user_ids))
    if box.machine_ids is not None:
        clauses.append(machine_col.in_(box.machine_ids))
    return clauses


def placements(conn: Connection, box: Box, longest: int) -> Placements:
    """The jobs that ran in the box's cells, one row per (job, machine), with the log's user and machine ids (a
    job whose user or node has no IO stored has no cell to take part in). Names become ids here, through the small
    Users and Machines tables, rather than by joining them row by row."""
    user_ids = dict(conn.execute(select(users.c.username, users.c.id)).all())
    machine_ids = dict(conn.execute(select(machines.c.name, machines.c.id)).all())
    n = job_nodes.c
    query = select(n.job_id_raw, n.username, n.machine, n.started, n.ran_until, n.cpus).where(
        n.started >= box.first_hour - longest, n.started < box.end_hour, n.ran_until > box.first_hour
    )
    job_ids, names, nodes, starts, ends, cpu_counts = fetch_columns(conn, query, 6)
    user = np.array([user_ids.get(name, -1) for name in names], dtype=np.int64)
    machine = np.array([machine_ids.get(node, -1) for node in nodes], dtype=np.int64)
    kept = (user >= 0) & (machine >= 0)
    if box.user_ids is not None:
        kept &= np.isin(user, box.user_ids)
    if box.machine_ids is not None:
        kept &= np.isin(machine, box.machine_ids)
    job, start, end, cpus = (np.array(values, dtype=np.int64)[kept] for values in (job_ids, starts, ends, cpu_counts))
    user, machine = user[kept], machine[kept]
    return Placements(job=job, user=user, machine=machine, start=start, end=end, cpus=cpus)


@dataclass(frozen=True)
class Sessions:
    """Stored sessions: id, hour, user, machine, direction (0 rd, 1 wr), operations, small operations, bytes."""

    ids: np.ndarray
    hour: np.ndarray
    user: np.ndarray
    machine: np.ndarray
    direction: np.ndarray
    operations: np.ndarray
    small: np.ndarray
    bytes: np.ndarray

    @classmethod
    def of(cls, rows: Iterable[tuple]) -> Sessions:
        """From UserSessions rows as tuples in the table's column order (as the ingest inserts them)."""
        columns = list(zip(*rows)) or [()] * len(_SESSION_AT)
        ids, user, machine, epochs, operations, small = (
            np.array(columns[_SESSION_AT[name]], dtype=np.int64)
            for name in ("id", "user_id", "machine_id", "epoch", "operations", "small_operations")
        )
        direction = np.array([name == DIRECTIONS[1] for name in columns[_SESSION_AT["direction"]]], dtype=np.int64)
        byte_counts = np.array(columns[_SESSION_AT["bytes_mid"]], dtype=np.float64)
        return cls(ids, hour_of(epochs), user, machine, direction, operations, small, byte_counts)

    def within(self, first_hour: int, end_hour: int) -> Sessions:
        return self._where((self.hour >= first_hour) & (self.hour < end_hour))

    def without(self, ids: Iterable[int]) -> Sessions:
        return self._where(~np.isin(self.ids, np.fromiter(ids, dtype=np.int64)))

    def _where(self, kept: np.ndarray) -> Sessions:
        return Sessions(*(getattr(self, f.name)[kept] for f in fields(Sessions)))


def stored_sessions(conn: Connection, box: Box, known: Sessions | None) -> Sessions:
    """The box's sessions: `known` ones when they are all that is stored there (counted), else read."""
    if known is not None and box.user_ids is None and box.machine_ids is None:
        inside = known.within(box.first_hour, box.end_hour)
        low, high = epoch_bounds(box.first_hour, box.end_hour)
        s = user_sessions.c
        count = select(func.count()).select_from(user_sessions).where(s.epoch >= low, s.epoch < high)
        if conn.execute(count.with_hint(user_sessions, "INDEXED BY ix_sessions_epoch", "sqlite")).scalar() == len(
            inside.ids
        ):
            return inside
    return sessions(conn, box)


def sessions(conn: Connection, box: Box) -> Sessions:
    s = user_sessions.c
    low, high = epoch_bounds(box.first_hour, box.end_hour)
    query = select(
        s.id, s.epoch, s.user_id, s.machine_id, case((s.direction == DIRECTIONS[1], 1), else_=0), s.operations,
        s.small_operations, s.bytes_mid,
    ).where(s.epoch >= low, s.epoch < high, *_in_box(box, s.user_id, s.machine_id))  # fmt: skip
    if box.user_ids is None:
        query = query.with_hint(user_sessions, "INDEXED BY ix_sessions_epoch", "sqlite")
    *ints, byte_counts = fetch_columns(conn, query, 8)
    ids, epochs, user, machine, direction, operations, small = (np.array(c, dtype=np.int64) for c in ints)
    return Sessions(
        ids=ids,
        hour=hour_of(epochs),
        user=user,
        machine=machine,
        direction=direction,
        operations=operations,
        small=small,
        bytes=np.array(byte_counts, dtype=np.float64),
    )


@dataclass(frozen=True)
class Usage:
    """JobUsage rows as columns: per (session, job), the job's operations, small operations and bytes."""

    session: np.ndarray  # index into the Sessions
    job: np.ndarray
    operations: np.ndarray
    small: np.ndarray
    bytes: np.ndarray


def share(found: Sessions, jobs_there: Placements) -> Usage:
    """Each session's operations shared among the jobs of its cell (db/attribution.py): its small operations and
    the others each exactly (largest remainder), so that for every session the jobs' operations and small
    operations plus what stays outside jobs are the stored ones. Bytes follow the operations: a job's share of the
    session's operations times its estimated bytes."""
    n = len(found.ids)
    parts = IORows(
        hour=np.repeat(found.hour, 2),
        user=np.repeat(found.user, 2),
        machine=np.repeat(found.machine, 2),
        ops=np.column_stack([found.operations - found.small, found.small]).reshape(-1),
    )
    result = attribute(parts, jobs_there, now=0)
    session, is_small = result.row // 2, result.row % 2 == 1
    codes, job_code = np.unique(result.job, return_inverse=True)
    pair = session * max(len(codes), 1) + job_code.reshape(-1)
    keys, which = np.unique(pair, return_inverse=True)
    which = which.reshape(-1)
    operations = sums_by_group(which, result.ops, len(keys))
    small = sums_by_group(which, np.where(is_small, result.ops, 0), len(keys))
    session_of = keys // max(len(codes), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(found.operations[session_of] > 0, operations / found.operations[session_of], 0.0)
    assert n == 0 or session_of.max(initial=0) < n
    return Usage(session_of, codes[keys % max(len(codes), 1)], operations, small, found.bytes[session_of] * fraction)


def _share_box(conn: Connection, box: Box, longest: int, known: Sessions | None = None) -> Shared:
    jobs_there = placements(conn, box, longest)
    old = _day_sums_in_box(conn, box)
    if not len(jobs_there.job) and not len(old[0]):
        return Shared()
    found = stored_sessions(conn, box, known)
    usage = share(found, jobs_there)
    u = job_usage.c
    removed = conn.execute(
        delete(job_usage).where(u.hour >= box.first_hour, u.hour < box.end_hour, *_in_box(box, u.user_id, u.machine_id))
    ).rowcount
    at = usage.session
    insert_rows(
        conn,
        job_usage,
        USAGE_COLUMNS,
        list(
            zip(
                found.hour[at].tolist(),
                found.user[at].tolist(),
                found.machine[at].tolist(),
                _DIRECTION_NAMES[found.direction[at]].tolist(),
                usage.job.tolist(),
                found.ids[at].tolist(),
                usage.operations.tolist(),
                usage.small.tolist(),
                usage.bytes.tolist(),
            )
        ),
    )
    new = (
        found.hour[at] // DAY * DAY,
        found.user[at],
        found.machine[at],
        found.direction[at],
        usage.job,
        usage.operations,
        usage.small,
        usage.bytes,
    )
    _add_to_days(conn, new, old, box)
    return Shared(len(found.ids), len(usage.job), max(removed, 0), int(usage.operations.sum()), [box])


def _day_sums_in_box(conn: Connection, box: Box) -> tuple[np.ndarray, ...]:
    """The box's JobUsage summed per (day, user, machine, direction, job): what JobDays holds of it now."""
    u = job_usage.c
    day = u.hour - u.hour % DAY
    query = (
        select(
            day, u.user_id, u.machine_id, case((u.direction == DIRECTIONS[1], 1), else_=0), u.job_id_raw,
            cast(func.sum(u.operations), BigInteger), cast(func.sum(u.small_operations), BigInteger),
            cast(func.sum(u.bytes), Float),
        )
        .where(u.hour >= box.first_hour, u.hour < box.end_hour, *_in_box(box, u.user_id, u.machine_id))
        .group_by(day, u.user_id, u.machine_id, u.direction, u.job_id_raw)
    )  # fmt: skip
    rows = conn.execute(query).all()
    ints = int_array((row[:7] for row in rows), 7, len(rows))
    return (*(ints[:, i] for i in range(7)), np.fromiter((row[7] for row in rows), np.float64, len(rows)))


def _distinct_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of an integer matrix, and which of them each row is (np.unique(axis=0), by one lexsort)."""
    order = np.lexsort(rows.T[::-1])
    ordered = rows[order]
    new = np.r_[True, (ordered[1:] != ordered[:-1]).any(axis=1)] if len(rows) else np.zeros(0, dtype=bool)
    which = np.empty(len(rows), dtype=np.int64)
    which[order] = np.cumsum(new) - 1
    return ordered[new], which


def _add_to_days(conn: Connection, new: tuple[np.ndarray, ...], old: tuple[np.ndarray, ...], box: Box) -> None:
    """Add to JobDays the box's new sums less its old ones; rows left at no operations go."""
    columns = [np.concatenate([n, o]) for n, o in zip(new, old)]
    count = len(new[0])
    sign = np.concatenate([np.ones(count, dtype=np.int64), -np.ones(len(old[0]), dtype=np.int64)])
    if not len(sign):
        return
    keys, which = _distinct_rows(np.column_stack(columns[:5]))
    operations = sums_by_group(which, columns[5] * sign, len(keys))
    small = sums_by_group(which, columns[6] * sign, len(keys))
    byte_sums = np.bincount(which, weights=columns[7] * sign, minlength=len(keys))
    moved = np.flatnonzero((operations != 0) | (small != 0))
    if len(moved):
        upsert_sums(
            conn,
            job_days,
            [
                keys[moved, 0],
                keys[moved, 1],
                keys[moved, 2],
                _DIRECTION_NAMES[keys[moved, 3]],
                keys[moved, 4],
                operations[moved],
                small[moved],
                byte_sums[moved],
            ],
        )
    d = job_days.c
    conn.execute(
        delete(job_days).where(d.day >= box.first_hour - box.first_hour % DAY, d.day < box.end_hour, d.operations == 0)
    )
