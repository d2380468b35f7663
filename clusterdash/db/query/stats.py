"""What the database holds, and what a question's range holds: database_stats, stats, data_health."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from clusterdash.db.filters import Filters
from clusterdash.db.periods import HOUR, hour_of
from clusterdash.db.query.coverage import blocks, lost_hours, rejected_in
from clusterdash.db.query.scope import Reader, resolve, visible
from clusterdash.db.query.totals import active, group_totals
from clusterdash.db.schema import io_operations, log_entries, machines, rejected_lines, user_sessions, users
from clusterdash.db.timefmt import iso_utc


def database_stats(conn: Connection, now: float | None = None) -> dict[str, Any]:
    """What the database holds, in the shape of `clusterdash stats --json` (and of /api/stats without filters): with
    its gaps (runs of hours without a block between the first and the last) and its freshness (the newest block,
    and its age in seconds at `now`)."""
    count, first, last, lost = conn.execute(
        select(
            func.count(),
            func.min(log_entries.c.epoch),
            func.max(log_entries.c.epoch),
            func.count().filter(log_entries.c.lost_events > 0),
        )
    ).one()
    by_direction = dict(
        conn.execute(
            select(user_sessions.c.direction, func.coalesce(func.sum(user_sessions.c.operations), 0)).group_by(
                user_sessions.c.direction
            )
        ).all()
    )
    operations = {"rd": int(by_direction.get("rd", 0)), "wr": int(by_direction.get("wr", 0))}
    operations["total"] = operations["rd"] + operations["wr"]
    known = blocks(conn)
    return {
        "blocks": count,
        "entries": conn.execute(select(func.count()).select_from(user_sessions)).scalar_one(),
        "rows": conn.execute(select(func.count()).select_from(io_operations)).scalar_one(),
        "users": conn.execute(select(func.count()).select_from(users)).scalar_one(),
        "machines": conn.execute(select(func.count()).select_from(machines)).scalar_one(),
        "operations": operations,
        "rejected_lines": rejected_in(conn, None, None),
        "hours_with_lost_events": lost,
        "first": iso_utc(first),
        "last": iso_utc(last),
        "gaps": known.gaps(hour_of(first), hour_of(last) + HOUR) if first is not None else [],
        "freshness": known.freshness(now),
    }


def latest_block_epoch(conn: Connection) -> int | None:
    return conn.execute(select(func.max(log_entries.c.epoch))).scalar()


def example_names(conn: Connection, filters: Filters | None = None) -> tuple[str | None, str | None]:
    """A username and a machine name that exist and that the asker may see (filters.visible_users): those seen
    last, for the API document's examples."""
    filters = filters or Filters()
    u, m, s = users.c, machines.c, user_sessions.c
    user = conn.execute(
        select(u.username).where(*visible(filters, u.username)).order_by(u.last_seen.desc(), u.username).limit(1)
    ).scalar()
    if filters.visible_users is None:
        machine = conn.execute(select(m.name).order_by(m.last_seen.desc(), m.name).limit(1)).scalar()
    else:  # a machine their own users used last
        own = select(u.id).where(*visible(filters, u.username))
        latest = select(s.machine_id).where(s.user_id.in_(own)).order_by(s.epoch.desc()).limit(1).scalar_subquery()
        machine = conn.execute(select(m.name).where(m.id == latest)).scalar()
    return user, machine


def stats(conn: Connection, filters: Filters, now: float | None = None) -> dict[str, Any]:
    """The keys of database_stats, for the hours, users, machines, direction and sizes in `filters`, plus
    `freshness` (the newest block, whatever the filters) and the `gaps` (hours without a block) in the range.
    With a size filter, operations and rows count those buckets only; entries count the histograms that
    match the other filters."""
    reader = Reader(conn)
    scope = resolve(conn, filters)
    per_direction = group_totals(reader, scope, ("direction",), rows=True, measures=("sessions", "rows", "operations"))
    operations = {d: int(per_direction[(d,)].operations) if (d,) in per_direction else 0 for d in ("rd", "wr")}
    operations["total"] = operations["rd"] + operations["wr"]
    known = blocks(conn)
    first_block, last_block = known.span(scope.first_hour, scope.end_hour)
    ranged = filters.start is not None or filters.end is not None
    return {
        "blocks": known.count(scope.first_hour, scope.end_hour),
        "entries": int(sum(v.sessions for v in per_direction.values())),
        "rows": int(sum(v.rows for v in per_direction.values())),
        "users": len(active(reader, scope, "user")),
        "machines": len(active(reader, scope, "machine")),
        "operations": operations,
        "rejected_lines": rejected_in(conn, scope.first_hour, scope.end_hour)
        if ranged
        else rejected_in(conn, None, None),
        "hours_with_lost_events": lost_hours(conn, scope.first_hour, scope.end_hour),
        "first": iso_utc(first_block),
        "last": iso_utc(last_block),
        "range": scope.range_fields(),
        "freshness": known.freshness(now),
        "gaps": known.gaps(scope.first_hour, scope.end_hour),
    }


def data_health(conn: Connection, filters: Filters, now: float | None = None) -> dict[str, Any]:
    """How complete the data in the range is, whatever the user/machine/size filters: the newest block and its
    age, blocks in the range, the gaps (hours without a block), hours flagged with lost events, rejected lines
    (those in blocks of the range, and those outside any block, which have no time)."""
    scope = resolve(conn, filters)
    known = blocks(conn)
    outside = conn.execute(
        select(func.count()).select_from(rejected_lines).where(rejected_lines.c.block_epoch.is_(None))
    ).scalar_one()
    return {
        "range": scope.range_fields(),
        "blocks": known.count(scope.first_hour, scope.end_hour),
        "hours_with_lost_events": lost_hours(conn, scope.first_hour, scope.end_hour),
        "rejected_lines": rejected_in(conn, scope.first_hour, scope.end_hour),
        "rejected_lines_outside_blocks": outside,
        "gaps": known.gaps(scope.first_hour, scope.end_hour),
        "freshness": known.freshness(now),
    }
