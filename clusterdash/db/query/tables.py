"""The users table, the machines table and the user x machine table: one dict per row active in the range."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, func, select

from clusterdash.db.filters import Filters
from clusterdash.db.query.measures import Measures
from clusterdash.db.query.scope import Reader, Scope, resolve, visible
from clusterdash.db.query.sql import through
from clusterdash.db.query.totals import group_totals
from clusterdash.db.query.usage import sessions
from clusterdash.db.schema import machines, user_sessions, users
from clusterdash.db.timefmt import iso_utc
from clusterdash.errors import BadParameter

USER_SORTS = ("operations", "bytes", "sessions", "name", "first_seen", "last_seen")


def users_table(
    conn: Connection, filters: Filters, sort: str = "operations", order: str = "desc", limit: int | None = None
) -> list[dict[str, Any]]:
    """Users active in the range: role, affiliation, first/last seen (ever), sessions, operations and bytes in
    the range. sort: operations|bytes|sessions|name|first_seen|last_seen; order: asc|desc."""
    check_sorting(sort, order, limit)
    return users_rows(Reader(conn), resolve(conn, filters), sort, order, limit)


def machines_table(
    conn: Connection, filters: Filters, sort: str = "operations", order: str = "desc", limit: int | None = None
) -> list[dict[str, Any]]:
    """Machines active in the range: type, first/last seen (ever), users, sessions, operations and bytes."""
    check_sorting(sort, order, limit)
    return machines_rows(Reader(conn), resolve(conn, filters), sort, order, limit)


def users_rows(reader: Reader, scope: Scope, sort: str, order: str, limit: int | None) -> list[dict[str, Any]]:
    rows = [
        {
            "user": u.username,
            "role": u.role,
            "affiliation": u.affiliation,
            "first_seen": iso_utc(u.first_seen),
            "last_seen": iso_utc(u.last_seen),
            **_usage_fields(v),
        }
        for u, v in _active_rows(reader, scope, "user", users)
    ]
    return _sort(rows, sort, order, limit, "user")


def machines_rows(reader: Reader, scope: Scope, sort: str, order: str, limit: int | None) -> list[dict[str, Any]]:
    user_counts: dict[int, int] = {}
    for (mid, _uid), count in sessions(reader, scope, ("machine", "user")).items():
        if count:
            user_counts[mid] = user_counts.get(mid, 0) + 1
    active = _active_rows(reader, scope, "machine", machines)
    seen = machine_seen(reader, scope.filters, {m.id for m, _ in active})
    rows = [
        {
            "machine": m.name,
            "machine_type": m.machine_type,
            "first_seen": iso_utc(seen[m.id][0]),
            "last_seen": iso_utc(seen[m.id][1]),
            "users": user_counts.get(m.id, 0),
            **_usage_fields(v),
        }
        for m, v in active
    ]
    return _sort(rows, sort, order, limit, "machine")


def machine_seen(reader: Reader, filters: Filters, ids: set[int]) -> dict[int, tuple[int, int]]:
    """First and last seen (epochs) of these machines, ever, as the asker may know them: the Machines table's
    when everything is visible, else the first and last session of the asker's own users on each (a machine's
    last use by someone else is someone else's IO). Machines without such a session are left out."""
    if not ids:
        return {}
    if filters.visible_users is None:
        m = machines.c
        rows = reader.conn.execute(select(m.id, m.first_seen, m.last_seen).where(m.id.in_(sorted(ids))))
        return {mid: (first, last) for mid, first, last in rows}
    # Every session of the asker's own users, through their (user, epoch) index: a user's year is a few thousand
    # rows, where the machines' index would visit every user's sessions on those machines.
    s = user_sessions.c
    own = select(users.c.id).where(*visible(filters, users.c.username))
    query = select(s.machine_id, func.min(s.epoch), func.max(s.epoch)).where(s.user_id.in_(own)).group_by(s.machine_id)
    found = reader.remember(
        ("machines seen", filters.visible_users),
        lambda: {
            mid: (first, last) for mid, first, last in reader.conn.execute(through(query, "ix_sessions_user_epoch"))
        },
    )
    return {mid: seen for mid, seen in found.items() if mid in ids}


def _active_rows(reader: Reader, scope: Scope, dimension: str, table: Table) -> list[tuple[Any, Measures]]:
    """(Users or Machines row, its totals) of each user or machine active in the scope."""
    totals = group_totals(reader, scope, (dimension,))
    info = _info(reader, table, {key for (key,) in totals})
    return [(info[key], v) for (key,), v in totals.items() if v.active and key in info]


def user_machine_usage(conn: Connection, filters: Filters) -> list[dict[str, Any]]:
    """One dict per (user, machine) pair active in the range, most operations first: the user's role and
    affiliation, the machine's type, sessions, operations, small operations and bytes (midpoint estimate)."""
    reader = Reader(conn)
    totals = group_totals(reader, resolve(conn, filters), ("user", "machine"))
    user_info = _info(reader, users, {uid for uid, _ in totals})
    machine_info = _info(reader, machines, {mid for _, mid in totals})
    rows = []
    for (uid, mid), v in totals.items():
        if v.active and uid in user_info and mid in machine_info:
            u, m = user_info[uid], machine_info[mid]
            rows.append(
                {
                    "user": u.username,
                    "role": u.role,
                    "affiliation": u.affiliation,
                    "machine": m.name,
                    "machine_type": m.machine_type,
                    **_usage_fields(v),
                }
            )
    rows.sort(key=lambda r: (-r["operations"], r["user"], r["machine"]))
    return rows


def _info(reader: Reader, table: Table, ids: set[int]) -> dict[int, Any]:
    """The Users or Machines rows of these ids."""
    return {r.id: r for r in reader.conn.execute(select(table).where(table.c.id.in_(sorted(ids))))} if ids else {}


def _usage_fields(v: Measures) -> dict[str, Any]:
    return {
        "sessions": int(v.sessions),
        "operations": int(v.operations),
        "small_operations": int(v.small_operations),
        **v.bytes_fields(),
    }


def check_sorting(sort: str, order: str, limit: int | None, sorts: tuple[str, ...] = USER_SORTS) -> None:
    if sort not in sorts:
        raise BadParameter("sort", f"must be one of {', '.join(sorts)}")
    if order not in ("asc", "desc"):
        raise BadParameter("order", "must be asc or desc")
    if limit is not None and limit < 0:
        raise BadParameter("limit", "must be 0 or more")


def _sort(rows: list[dict], sort: str, order: str, limit: int | None, name: str) -> list[dict]:
    field = name if sort == "name" else sort
    # Ties (and missing values) fall back to the name, so the order is stable from request to request.
    rows.sort(key=lambda r: r[name])
    rows.sort(key=lambda r: (r[field] is None, r[field] if r[field] is not None else 0), reverse=(order == "desc"))
    return rows if limit is None else rows[:limit]
