"""The only read SQL: questions in, plain data out. The CLI, the API and the dashboard all ask here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from clusterdash.db.schema import io_operations, log_entries, machines, rejected_lines, user_sessions, users
from clusterdash.db.timefmt import iso_utc


def database_stats(conn: Connection) -> dict[str, Any]:
    """What the database holds, in the shape of `clusterdash stats --json`."""
    blocks, first, last, lost_hours = conn.execute(
        select(func.count(), func.min(log_entries.c.epoch), func.max(log_entries.c.epoch),
               func.count().filter(log_entries.c.lost_events > 0))
    ).one()
    by_direction = dict(conn.execute(
        select(user_sessions.c.direction, func.coalesce(func.sum(user_sessions.c.operations), 0))
        .group_by(user_sessions.c.direction)).all())
    operations = {"rd": int(by_direction.get("rd", 0)), "wr": int(by_direction.get("wr", 0))}
    operations["total"] = operations["rd"] + operations["wr"]
    return {
        "blocks": blocks,
        "entries": conn.execute(select(func.count()).select_from(user_sessions)).scalar_one(),
        "rows": conn.execute(select(func.count()).select_from(io_operations)).scalar_one(),
        "users": conn.execute(select(func.count()).select_from(users)).scalar_one(),
        "machines": conn.execute(select(func.count()).select_from(machines)).scalar_one(),
        "operations": operations,
        "rejected_lines": conn.execute(select(func.count()).select_from(rejected_lines)).scalar_one(),
        "hours_with_lost_events": lost_hours,
        "first": iso_utc(first),
        "last": iso_utc(last),
    }


def recent_rejected_lines(conn: Connection, limit: int = 10) -> list[dict[str, Any]]:
    """The most recently stored rejected lines, newest first."""
    rows = conn.execute(select(rejected_lines.c.source, rejected_lines.c.line_number, rejected_lines.c.reason,
                               rejected_lines.c.text).order_by(rejected_lines.c.id.desc()).limit(limit))
    return [r._asdict() for r in rows]
