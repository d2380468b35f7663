"""A selection of jobs as a filter: the question then covers their users, the machines they ran on and the hours
they ran (scope.resolve narrows to these), so every panel shows where and when the selected jobs were."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, Row, or_, select

from clusterdash.db.periods import ceil_hour, floor_hour
from clusterdash.db.schema import job_nodes, jobs, machines, users


def find_jobs(conn: Connection, keys: Iterable[str]) -> list[Row]:
    """The Jobs rows that `keys` name: a number is a JobIDRaw or a plain JobID, anything else a JobID as printed
    (123_4, 123+0). Keys are checked by the caller (Filters: db.jobs.records.JOB_ID)."""
    keys = list(dict.fromkeys(keys))
    raw = [int(key) for key in keys if key.isdigit()]
    printed = [key for key in keys if not key.isdigit()]
    clauses = []
    if raw:
        clauses.append(jobs.c.job_id_raw.in_(raw))
    if printed:
        clauses.append(jobs.c.job_id.in_(printed))
    if not clauses:
        return []
    return list(conn.execute(select(jobs).where(or_(*clauses)).order_by(jobs.c.job_id_raw)))


@dataclass(frozen=True)
class Selected:
    """Where and when the selected jobs ran: ids of the log's users and machines, and [first_hour, end_hour)."""

    user_ids: tuple[int, ...]
    machine_ids: tuple[int, ...]
    first_hour: int
    end_hour: int


def selected(conn: Connection, keys: Iterable[str], visible_users: Iterable[str] | None = None) -> Selected:
    """The users, machines and hours of the jobs `keys` name; nothing (empty, no hours) for jobs unknown or never
    started, or whose user is not among `visible_users` (the asker's access scope; None: everyone): another
    user's job reads like no job, its hours included."""
    seen = None if visible_users is None else set(visible_users)
    found = [
        row
        for row in find_jobs(conn, keys)
        if row.started is not None and row.ran_until is not None and (seen is None or row.username in seen)
    ]
    if not found:
        return Selected((), (), 0, 0)
    ids = [row.job_id_raw for row in found]
    names = {row.username for row in found}
    nodes = set(conn.execute(select(job_nodes.c.machine).where(job_nodes.c.job_id_raw.in_(ids))).scalars())
    user_ids = conn.execute(select(users.c.id).where(users.c.username.in_(sorted(names)))).scalars()
    machine_ids = conn.execute(select(machines.c.id).where(machines.c.name.in_(sorted(nodes)))).scalars()
    return Selected(
        tuple(sorted(user_ids)),
        tuple(sorted(machine_ids)),
        floor_hour(min(row.started for row in found)),
        ceil_hour(max(row.ran_until for row in found)),
    )
