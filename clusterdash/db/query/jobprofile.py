"""One job's page: its record and allocation, its IO hour by hour, by machine and by size, and how much of its
user's IO on its nodes in its hours it took."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from clusterdash.db.filters import Filters
from clusterdash.db.periods import HOUR, ceil_hour, epoch_bounds, floor_hour
from clusterdash.db.query.coverage import blocks
from clusterdash.db.query.distribution import size_buckets
from clusterdash.db.query.jobs import _nodes, _sized_sums, job_fields
from clusterdash.db.query.jobselect import find_jobs
from clusterdash.db.query.scope import Reader, resolve, where
from clusterdash.db.query.sql import total
from clusterdash.db.schema import job_usage, machines, user_sessions, users
from clusterdash.db.timefmt import iso_utc


def job_profile(conn: Connection, key: str, filters: Filters) -> dict[str, Any] | None:
    """The job `key` names (its JobIDRaw or its JobID as printed), or None when there is none, or when the filters'
    users exclude its user (so that a scope on users hides other users' jobs). The filters' time range, machines
    and direction limit its IO (no time range: its whole run); a job selection in them does not apply."""
    found = find_jobs(conn, [key])
    if not found:
        return None
    job = found[0]
    scope = resolve(conn, filters.with_(jobs=()))
    user_id = conn.execute(select(users.c.id).where(users.c.username == job.username)).scalar()
    if scope.user_ids is not None and user_id not in scope.user_ids:
        return None
    nodes = _nodes(conn, [job.job_id_raw]).get(job.job_id_raw, [])
    answer: dict[str, Any] = {
        "job": job_fields(job, nodes),
        "allocation": [{"machine": machine, "cpus": cpus} for machine, cpus in nodes],
        "bytes_estimate": "midpoint",
    }
    lo, hi = _span(job, filters, scope.first_hour, scope.end_hour)
    scope = scope.narrowed(first_hour=lo, end_hour=max(lo, hi))
    answer["range"] = scope.range_fields()
    reader = Reader(conn)
    u = job_usage.c
    clauses = [u.job_id_raw == job.job_id_raw, u.hour >= scope.first_hour, u.hour < scope.end_hour]
    clauses += where(scope, None, u.machine_id, u.direction)
    by_hour: dict[int, dict[str, float]] = {}
    by_machine: dict[int, list[float]] = {}
    totals = {"operations": 0, "rd_operations": 0, "wr_operations": 0, "small_operations": 0, "bytes": 0.0}
    query = select(u.hour, u.machine_id, u.direction, total(u.operations), total(u.small_operations), total(u.bytes))
    query = query.where(*clauses).group_by(u.hour, u.machine_id, u.direction)
    for hour, machine_id, direction, operations, small, byte_count in conn.execute(query):
        point = by_hour.setdefault(hour, {"rd": 0, "wr": 0, "bytes": 0.0})
        point[direction] += operations
        point["bytes"] += byte_count
        machine = by_machine.setdefault(machine_id, [0, 0.0])
        machine[0] += operations
        machine[1] += byte_count
        totals["operations"] += operations
        totals[f"{direction}_operations"] += operations
        totals["small_operations"] += small
        totals["bytes"] += byte_count
    answer["totals"] = totals
    names = dict(
        conn.execute(select(machines.c.id, machines.c.name).where(machines.c.id.in_(sorted(by_machine)))).all()
    )
    answer["machines"] = sorted(
        ({"machine": names[m], "operations": int(v[0]), "bytes": v[1]} for m, v in by_machine.items()),
        key=lambda r: (-r["operations"], r["machine"]),
    )
    with_data = set(blocks(conn).hours_in(scope.first_hour, scope.end_hour).tolist())
    answer["series"] = {
        "bucket": "hour",
        "points": [
            _point(hour, by_hour.get(hour), hour in with_data) for hour in range(scope.first_hour, scope.end_hour, HOUR)
        ],
    }
    sized = _sized_sums(reader, scope, job=job.job_id_raw) if totals["operations"] else {}
    answer["sizes"] = [
        {
            "label": bucket["label"],
            "lower_bytes": bucket["lower_bytes"],
            "upper_bytes": bucket["upper_bytes"],
            "operations": round(sized[bucket["id"]].operations),
            "bytes": sized[bucket["id"]].bytes,
        }
        for bucket in size_buckets(conn)
        if bucket["id"] in sized and round(sized[bucket["id"]].operations)
    ]
    answer["cells"] = _cells(conn, user_id, nodes, scope.first_hour, scope.end_hour, totals["operations"])
    return answer


def _span(job, filters: Filters, first_hour: int, end_hour: int) -> tuple[int, int]:
    """The hours to show: the job's run, within the filters' range when they have one, and within the data."""
    lo = floor_hour(job.started) if job.started is not None else first_hour
    hi = ceil_hour(job.ran_until) if job.ran_until is not None else lo
    if filters.start is not None or filters.end is not None:
        lo, hi = max(lo, first_hour), min(hi, end_hour)
    return lo, hi


def _point(hour: int, values: dict[str, float] | None, has_data: bool) -> dict[str, Any]:
    """An hour of the job's IO; operations None where no block covers the hour (no data, not zero IO)."""
    if not has_data:
        return {"time": iso_utc(hour), "epoch": hour, "operations": None, "rd_operations": None,
                "wr_operations": None, "bytes": None}  # fmt: skip
    values = values or {"rd": 0, "wr": 0, "bytes": 0.0}
    return {
        "time": iso_utc(hour),
        "epoch": hour,
        "operations": int(values["rd"] + values["wr"]),
        "rd_operations": int(values["rd"]),
        "wr_operations": int(values["wr"]),
        "bytes": values["bytes"],
    }


def _cells(conn: Connection, user_id: int | None, nodes: list, lo: int, hi: int, taken: float) -> dict[str, Any]:
    """The job's cells: its user's IO on its nodes in its hours, of which it took `taken` operations; the rest was
    its user's other jobs' there, or outside jobs."""
    stored = 0
    if user_id is not None and nodes and lo < hi:
        s = user_sessions.c
        ids = select(machines.c.id).where(machines.c.name.in_([machine for machine, _ in nodes]))
        low, high = epoch_bounds(lo, hi)
        query = select(total(s.operations)).where(
            s.user_id == user_id, s.epoch >= low, s.epoch < high, s.machine_id.in_(ids.scalar_subquery())
        )
        stored = conn.execute(query).scalar() or 0
    return {"operations": int(stored), "taken_by_this_job": int(taken), "share": taken / stored if stored else None}
