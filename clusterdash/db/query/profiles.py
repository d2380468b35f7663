"""One user or one machine in the range: who or what, totals, the machines or users involved, sizes, a series."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from clusterdash.db.filters import Filters
from clusterdash.db.query.distribution import distribution
from clusterdash.db.query.measures import BYTES_ESTIMATE, ZERO
from clusterdash.db.query.scope import Reader, resolve, visible
from clusterdash.db.query.series import series
from clusterdash.db.query.tables import machine_seen, machines_rows, users_rows
from clusterdash.db.query.totals import group_totals
from clusterdash.db.schema import machines, users
from clusterdash.db.timefmt import iso_utc


def user_profile(conn: Connection, username: str, filters: Filters) -> dict[str, Any] | None:
    """One user in the range: role, affiliation, first/last seen, totals, machines used, size distribution and
    a time series. None when no such user exists, or none the asker may see (filters.visible_users). The filters'
    own user list is replaced by this user."""
    u = conn.execute(
        select(users).where(users.c.username == username, *visible(filters, users.c.username))
    ).one_or_none()
    if u is None:
        return None
    narrowed = filters.with_(users=(username,), roles=(), affiliations=())
    return {
        "user": u.username,
        "role": u.role,
        "affiliation": u.affiliation,
        "first_seen": iso_utc(u.first_seen),
        "last_seen": iso_utc(u.last_seen),
        **_profile(conn, narrowed, "machine"),
    }


def machine_profile(conn: Connection, name: str, filters: Filters) -> dict[str, Any] | None:
    """One machine in the range: type, first/last seen, totals, users seen, size distribution, time series. None
    when no such machine exists, or none the asker's users (filters.visible_users) ever used: a machine is known
    to a scoped asker through their own IO only, and so are its first and last seen."""
    m = conn.execute(select(machines).where(machines.c.name == name)).one_or_none()
    seen = machine_seen(Reader(conn), filters, {m.id}) if m is not None else {}
    if m is None or m.id not in seen:
        return None
    narrowed = filters.with_(machines=(name,), machine_types=())
    first_seen, last_seen = seen[m.id]
    return {
        "machine": m.name,
        "machine_type": m.machine_type,
        "first_seen": iso_utc(first_seen),
        "last_seen": iso_utc(last_seen),
        **_profile(conn, narrowed, "user"),
    }


def _profile(conn: Connection, filters: Filters, other: str) -> dict[str, Any]:
    reader, scope = Reader(conn), resolve(conn, filters)
    per_direction = group_totals(reader, scope, ("direction",))
    totals = {"sessions": 0, "operations": 0, "rd_operations": 0, "wr_operations": 0, "small_operations": 0}
    every = ZERO
    for (direction,), v in per_direction.items():
        totals[f"{direction}_operations"] = int(v.operations)
        every = every + v
    totals.update(
        sessions=int(every.sessions),
        operations=int(every.operations),
        small_operations=int(every.small_operations),
        **every.bytes_fields(),
    )
    rows = users_rows if other == "user" else machines_rows
    listed = rows(reader, scope, sort="operations", order="desc", limit=None)
    size = distribution(reader, scope)
    drawn = series(reader, scope, None, "none", 10)
    return {
        "range": scope.range_fields(),
        "totals": totals,
        f"{other}s": listed,
        "sizes": size["buckets"],
        "bytes_estimate": BYTES_ESTIMATE,
        "series": {k: drawn[k] for k in ("bucket", "tz", "buckets", "points")},
    }
