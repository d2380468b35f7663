"""Questions about jobs: which jobs did the IO of a range (jobs_table), which ran in the newest hour
(running_jobs), one job's IO over time, sizes and allocation (job_profile).

The attribution is kept like a rollup (db/jobs/): a job's IO in a range is read from JobDays for the whole UTC days
in it and from JobUsage for the hours at its edges, filtered as every question is (Filters resolved by
scope.resolve: users, machines, direction; a job's user is one of the log's users). With a size filter, a job's
operations in those buckets are estimated from its share of each session (its operations / the session's) times
the session's rows in them, read from JobUsage and IOOperations. What the jobs do not hold of the stored IO in the
same scope is "outside jobs".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import hostlist
from sqlalchemy import BigInteger, Connection, Float, Row, case, cast, func, select, union_all

from clusterdash.db.bulk import in_chunks
from clusterdash.db.filters import Filters
from clusterdash.db.jobs.store import longest_job
from clusterdash.db.periods import DAY, HOUR, hour_of
from clusterdash.db.query.coverage import blocks
from clusterdash.db.query.scope import Reader, Scope, resolve, visible, where
from clusterdash.db.query.sql import total
from clusterdash.db.query.tables import check_sorting
from clusterdash.db.query.totals import group_totals
from clusterdash.db.schema import io_operations, job_days, job_nodes, job_usage, jobs, machines, user_sessions, users
from clusterdash.db.timefmt import iso_utc

JOB_SORTS = ("operations", "bytes", "small_share", "small_operations", "operations_per_node_hour", "start", "job")
SHARE_MIN_OPERATIONS = 1000  # ranking by small-IO share, jobs with fewer operations come after the others


@dataclass
class Sums:
    operations: float = 0
    small_operations: float = 0
    bytes: float = 0.0

    def add(self, operations: float, small: float, byte_count: float) -> None:
        self.operations += operations
        self.small_operations += small
        self.bytes += byte_count


def jobs_table(
    conn: Connection, filters: Filters, sort: str = "operations", order: str = "desc", limit: int | None = 100
) -> dict[str, Any]:
    """The jobs that did IO in the scope, ranked (sort: JOB_SORTS; order asc|desc), with their share of it, and
    the scope's IO in all and outside jobs."""
    check_sorting(sort, order, limit, JOB_SORTS)
    reader = Reader(conn)
    scope = resolve(conn, filters)
    if scope.empty:
        ranking = Ranking([], {}, 0, 0, 0.0)
    elif scope.size_ids is None:
        ranking = _ranked_in_sql(reader, scope, sort, order, limit)
    else:
        ranking = _ranked(conn, scope, _sized_sums(reader, scope), sort, order, limit)
    return _answer(reader, scope, ranking, _details(conn, ranking.ids))


def running_jobs(
    conn: Connection, filters: Filters, sort: str = "operations", order: str = "desc", limit: int | None = 100
) -> dict[str, Any]:
    """The jobs that ran in the newest stored hour (with no IO too), with their IO in it; the filters' time range
    does not apply (the hour is the newest), the rest does."""
    check_sorting(sort, order, limit, JOB_SORTS)
    reader = Reader(conn)
    latest = blocks(conn).extent[1]
    hour = hour_of(latest) if latest is not None else 0
    scope = resolve(conn, filters.with_(start=hour, end=hour + HOUR))
    sums: dict[int, Sums] = {}
    details: dict[int, Row] = {}
    longest = longest_job(conn)
    if latest is not None and longest is not None and not scope.empty:
        sums = job_sums(reader, scope)
        ran = conn.execute(
            select(jobs).where(jobs.c.started >= hour - longest, jobs.c.started < hour + HOUR, jobs.c.ran_until > hour)
        ).all()
        details = {row.job_id_raw: row for row in ran if _in_scope(reader, scope, row)}
        details.update(_details(conn, [key for key in sums if key not in details]))
        for job_id_raw in details:
            sums.setdefault(job_id_raw, Sums())
    ranking = _ranked(conn, scope, sums, sort, order, limit)
    return _answer(reader, scope, ranking, details) | {"hour": iso_utc(hour), "hour_epoch": hour}


def job_sums(reader: Reader, scope: Scope) -> dict[int, Sums]:
    """Per job, its operations, small operations and bytes (midpoint) in the scope."""
    if scope.size_ids is not None:
        return _sized_sums(reader, scope)
    lo, hi = scope.first_hour, scope.end_hour
    first_day, end_day = -(-lo // DAY) * DAY, hi // DAY * DAY
    found: dict[int, Sums] = {}
    edges = [(lo, hi)]
    if first_day < end_day:
        edges = [(lo, first_day), (end_day, hi)]
        d = job_days.c
        query = select(d.job_id_raw, total(d.operations), total(d.small_operations), total(d.bytes)).where(
            d.day >= first_day,
            d.day < end_day,
            *where(scope, d.user_id, d.machine_id, d.direction, ("user", "machine")),
        )
        _collect(found, reader.conn.execute(query.group_by(d.job_id_raw)))
    u = job_usage.c
    for first, end in edges:
        if first < end:
            query = select(u.job_id_raw, total(u.operations), total(u.small_operations), total(u.bytes)).where(
                u.hour >= first, u.hour < end, *where(scope, u.user_id, u.machine_id, u.direction, ("user", "machine"))
            )
            _collect(found, reader.conn.execute(query.group_by(u.job_id_raw)))
    return found


def _collect(found: dict[int, Sums], rows: Iterable[Row]) -> None:
    for job_id_raw, operations, small, byte_count in rows:
        found.setdefault(job_id_raw, Sums()).add(operations or 0, small or 0, byte_count or 0.0)


def _sized_sums(reader: Reader, scope: Scope, job: int | None = None) -> dict[int, Sums]:
    """Per job, its estimated operations in the scope's size buckets (see the module's docstring); with `job`,
    per size bucket of that job instead (keyed by size bucket id)."""
    u, s, o = job_usage.c, user_sessions.c, io_operations.c
    estimate = func.sum(cast(o.count, Float) * u.operations / s.operations)
    query = (
        select(u.job_id_raw, o.size_range_id, estimate)
        .select_from(job_usage.join(user_sessions, s.id == u.session_id).join(io_operations, o.session_id == s.id))
        .where(u.hour >= scope.first_hour, u.hour < scope.end_hour)
        .where(*where(scope, u.user_id, u.machine_id, u.direction, ("user", "machine")))
    )
    if scope.size_ids is not None:
        query = query.where(o.size_range_id.in_(scope.size_ids))
    if job is not None:
        query = query.where(u.job_id_raw == job)
    found: dict[int, Sums] = {}
    for job_id_raw, size_id, operations in reader.conn.execute(query.group_by(u.job_id_raw, o.size_range_id)):
        weights = scope.weights[size_id]
        key = size_id if job is not None else job_id_raw
        found.setdefault(key, Sums()).add(operations, operations if weights.small else 0.0, operations * weights.mid)
    return found


@dataclass
class Ranking:
    """The jobs listed, in order (at most the limit), their sums; and over every job of the scope: how many did
    IO, and their operations and bytes together."""

    ids: list[int]
    sums: dict[int, Sums]
    jobs_with_io: int
    operations: float
    bytes: float


def _ranked_in_sql(reader: Reader, scope: Scope, sort: str, order: str, limit: int | None) -> Ranking:
    """Each job's sums over the scope (whole UTC days from JobDays, the hours at the edges from JobUsage), ranked
    and cut to the limit by the database, with every job's count and totals alongside (window sums): a year's
    twenty thousand jobs never reach Python."""
    lo, hi = scope.first_hour, scope.end_hour
    first_day, end_day = -(-lo // DAY) * DAY, hi // DAY * DAY
    spans = [(job_days, "day", first_day, end_day)] if first_day < end_day else []
    edges = [(lo, first_day), (end_day, hi)] if spans else [(lo, hi)]
    spans += [(job_usage, "hour", first, end) for first, end in edges]
    parts = []
    for table, time_column, first, end in spans:
        if first < end:
            t = table.c
            clauses = where(scope, t.user_id, t.machine_id, t.direction, ("user", "machine"))
            parts.append(
                select(t.job_id_raw.label("job"), t.operations.label("ops"), t.small_operations.label("small"),
                       t.bytes.label("bytes")).where(t[time_column] >= first, t[time_column] < end, *clauses)
            )  # fmt: skip
    if not parts:
        return Ranking([], {}, 0, 0, 0.0)
    rows = (parts[0] if len(parts) == 1 else union_all(*parts)).subquery()
    grouped = (
        select(
            rows.c.job,
            cast(func.sum(rows.c.ops), BigInteger).label("ops"),
            cast(func.sum(rows.c.small), BigInteger).label("small"),
            cast(func.sum(rows.c.bytes), Float).label("bytes"),
        )
        .group_by(rows.c.job)
        .subquery()
    )
    g, j = grouped.c, jobs.c
    query = select(
        g.job, g.ops, g.small, g.bytes,
        func.count().over(), cast(func.sum(g.ops).over(), BigInteger), cast(func.sum(g.bytes).over(), Float),
    )  # fmt: skip
    if sort in ("start", "operations_per_node_hour"):
        query = query.join(jobs, j.job_id_raw == g.job)
    orderings: dict[str, list[Any]] = {
        "operations": [g.ops],
        "bytes": [g.bytes],
        "small_operations": [g.small],
        "small_share": [case((g.ops >= SHARE_MIN_OPERATIONS, 1), else_=0), cast(g.small, Float) / g.ops, g.ops],
        "start": [j.started],
        "operations_per_node_hour": [
            cast(g.ops, Float)
            / func.nullif(
                j.nnodes
                * (case((j.ran_until < hi, j.ran_until), else_=hi) - case((j.started > lo, j.started), else_=lo)),
                0,
            )
        ],
        "job": [g.job],
    }
    keys = orderings[sort]
    direction = (lambda k: k.desc().nulls_last()) if order == "desc" else (lambda k: k.asc().nulls_last())
    query = query.order_by(*[direction(k) for k in keys], g.job)
    found = reader.conn.execute(query.limit(max(limit, 1)) if limit is not None else query).all()
    if not found:
        return Ranking([], {}, 0, 0, 0.0)
    listed = found[: limit if limit is not None else len(found)]
    sums = {row[0]: Sums(row[1], row[2], row[3]) for row in listed}
    return Ranking([row[0] for row in listed], sums, found[0][4], found[0][5] or 0, found[0][6] or 0.0)


def _ranked(conn: Connection, scope: Scope, sums: dict[int, Sums], sort: str, order: str, limit: int | None) -> Ranking:
    """The same ranking in Python, for sums computed there (a size filter's estimates, the newest hour's jobs)."""
    if sort in ("start", "operations_per_node_hour"):
        spans = _spans(conn, sums)

        def key(job_id_raw: int) -> tuple:
            started, ran_until, nnodes = spans.get(job_id_raw, (None, None, 0))
            if sort == "start":
                return (started is not None, started or 0)
            node_hours = _node_hours(started, ran_until, nnodes, scope)
            return (bool(node_hours), sums[job_id_raw].operations / node_hours if node_hours else 0.0)

    else:

        def key(job_id_raw: int) -> tuple:
            s = sums[job_id_raw]
            share = s.small_operations / s.operations if s.operations else 0.0
            return {
                "operations": (s.operations,),
                "bytes": (s.bytes,),
                "small_operations": (s.small_operations,),
                "small_share": (s.operations >= SHARE_MIN_OPERATIONS, share, s.operations),
                "job": (job_id_raw,),
            }[sort]

    ids = sorted(sums)  # ties in a stable order, request after request
    ids.sort(key=key, reverse=(order == "desc"))
    listed = ids if limit is None else ids[:limit]
    return Ranking(
        listed,
        {i: sums[i] for i in listed},
        sum(1 for s in sums.values() if s.operations),
        sum(s.operations for s in sums.values()),
        sum(s.bytes for s in sums.values()),
    )


def _spans(conn: Connection, ids: Iterable[int]) -> dict[int, tuple[int | None, int | None, int]]:
    wanted = sorted(ids)
    found: dict[int, tuple[int | None, int | None, int]] = {}
    query = select(jobs.c.job_id_raw, jobs.c.started, jobs.c.ran_until, jobs.c.nnodes)
    for chunk in in_chunks(wanted):
        for job_id_raw, started, until, nnodes in conn.execute(query.where(jobs.c.job_id_raw.in_(chunk))):
            found[job_id_raw] = (started, until, nnodes)
    return found


def _node_hours(started: int | None, ran_until: int | None, nnodes: int, scope: Scope) -> float:
    """A job's node-hours within the scope's hours."""
    if started is None or ran_until is None:
        return 0.0
    return nnodes * max(0, min(ran_until, scope.end_hour) - max(started, scope.first_hour)) / HOUR


def _details(conn: Connection, ids: Iterable[int]) -> dict[int, Row]:
    wanted = sorted(ids)
    found: dict[int, Row] = {}
    for chunk in in_chunks(wanted):
        query = select(jobs).where(jobs.c.job_id_raw.in_(chunk))
        found.update((row.job_id_raw, row) for row in conn.execute(query))
    return found


def _nodes(conn: Connection, ids: Iterable[int]) -> dict[int, list[tuple[str, int]]]:
    """(machine, CPUs) of each job's nodes, in NodeList order."""
    wanted = sorted(ids)
    found: dict[int, list[tuple[str, int]]] = {}
    n = job_nodes.c
    for chunk in in_chunks(wanted):
        query = select(n.job_id_raw, n.machine, n.cpus).where(n.job_id_raw.in_(chunk))
        for job_id_raw, machine, cpus in conn.execute(query.order_by(n.job_id_raw, n.ordinal)):
            found.setdefault(job_id_raw, []).append((machine, cpus))
    return found


def _in_scope(reader: Reader, scope: Scope, row: Row) -> bool:
    """Whether a job ran for the scope's users and on one of its machines (by the log's ids: a job whose user has
    no IO stored is in scope only when no user filter applies)."""
    if scope.user_ids is not None:
        ids = reader.remember(
            ("user ids",), lambda: dict(reader.conn.execute(select(users.c.username, users.c.id)).all())
        )
        if ids.get(row.username) not in scope.user_ids:
            return False
    machine_ids = scope.machine_ids
    if machine_ids is not None:
        names = reader.remember(
            ("machine names", machine_ids),
            lambda: set(
                reader.conn.execute(select(machines.c.name).where(machines.c.id.in_(machine_ids))).scalars()
            ),  # fmt: skip
        )
        nodes = _nodes(reader.conn, [row.job_id_raw]).get(row.job_id_raw, [])
        return any(machine in names for machine, _ in nodes)
    return True


def _answer(reader: Reader, scope: Scope, ranking: Ranking, details: dict[int, Row]) -> dict[str, Any]:
    stored = group_totals(reader, scope, ()).get((), None) if not scope.empty else None
    stored_ops = stored.operations if stored is not None else 0
    stored_bytes = stored.bytes_mid if stored is not None else 0.0
    listed = [job_id_raw for job_id_raw in ranking.ids if job_id_raw in details]
    nodes = _nodes(reader.conn, listed)
    return {
        "range": scope.range_fields(),
        "bytes_estimate": "midpoint",
        "operations_estimated": scope.size_ids is not None,  # a size filter: each job's share of each session
        "jobs_with_io": ranking.jobs_with_io,
        "totals": {
            "operations": int(stored_ops),
            "bytes": stored_bytes,
            "attributed_operations": round(ranking.operations),
            "attributed_bytes": ranking.bytes,
            "outside_operations": int(stored_ops) - round(ranking.operations),
            "outside_bytes": max(stored_bytes - ranking.bytes, 0.0),
        },
        "jobs": [_row(details[key], ranking.sums[key], nodes.get(key, []), scope) for key in listed],
    }


def _row(job: Row, sums: Sums, nodes: list[tuple[str, int]], scope: Scope) -> dict[str, Any]:
    node_hours = _node_hours(job.started, job.ran_until, job.nnodes, scope)
    operations = round(sums.operations)
    return {
        **job_fields(job, nodes),
        "operations": operations,
        "small_operations": round(sums.small_operations),
        "small_share": sums.small_operations / sums.operations if sums.operations else None,
        "bytes": sums.bytes,
        "node_hours": node_hours,
        "operations_per_node_hour": operations / node_hours if node_hours else None,
        "bytes_per_node_hour": sums.bytes / node_hours if node_hours else None,
    }


def job_fields(job: Row, nodes: list[tuple[str, int]]) -> dict[str, Any]:
    """A job's record as an answer gives it: times as ISO-8601 UTC, NodeList in Slurm's compressed form."""
    return {
        "job": job.job_id,
        "job_id_raw": job.job_id_raw,
        "array_job_id": job.array_job_id,
        "array_task_id": job.array_task_id,
        "het_job_id": job.het_job_id,
        "het_offset": job.het_offset,
        "user": job.username,
        "account": job.account,
        "partition": job.partition_name,
        "name": job.job_name,
        "state": job.state,
        "state_text": job.state_text,
        "submit": iso_utc(job.submitted),
        "start": iso_utc(job.started),
        "end": iso_utc(job.ended),
        "ran_until": iso_utc(job.ran_until),
        "elapsed": job.elapsed,
        "nnodes": job.nnodes,
        "node_list": hostlist.collect_hostlist([machine for machine, _ in nodes]) if nodes else "",
        "cpus": job.cpus,
        "gpus": job.gpus,
        "mem_bytes": job.mem_bytes,
    }


def example_job(conn: Connection, filters: Filters | None = None) -> str | None:
    """The JobID of the job stored last that ran and that the asker may see (filters.visible_users), for the API
    document's example."""
    query = (
        select(jobs.c.job_id)
        .where(jobs.c.started.is_not(None), *visible(filters or Filters(), jobs.c.username))
        .order_by(jobs.c.updated_at.desc(), jobs.c.job_id_raw.desc())
    )
    return conn.execute(query.limit(1)).scalar()
