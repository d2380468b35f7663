"""One user or one machine in the range: who or what, totals, the machines or users involved, sizes, a series, and
how it compares: its rank and share among all users (machines) in the range (standing.py) and its usual level
(usual.py).

first_seen / last_seen are the log times of the first and last block the subject is in; first_hour / last_hour
are the starts of the hours those blocks report (periods.hour_of), the hours the charts draw them in.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from clusterdash.db.filters import Filters
from clusterdash.db.periods import hour_of
from clusterdash.db.query.distribution import distribution
from clusterdash.db.query.measures import BYTES_ESTIMATE, ZERO
from clusterdash.db.query.scope import Reader, resolve, visible
from clusterdash.db.query.series import series
from clusterdash.db.query.standing import standing
from clusterdash.db.query.tables import machine_seen, machines_rows, users_rows
from clusterdash.db.query.totals import group_totals
from clusterdash.db.query.usual import usual_level
from clusterdash.db.schema import machines, users
from clusterdash.db.timefmt import iso_utc


def user_profile(conn: Connection, username: str, filters: Filters) -> dict[str, Any] | None:
    """One user in the range: role, affiliation, first/last seen, totals, machines used, size distribution, a
    time series, its standing among all users (None for an asker who sees only some) and its usual level. None
    when no such user exists, or none the asker may see (filters.visible_users). The filters' own user, role and
    affiliation lists are replaced by this user (and ignored for the standing)."""
    u = conn.execute(
        select(users).where(users.c.username == username, *visible(filters, users.c.username))
    ).one_or_none()
    if u is None:
        return None
    everyone = filters.with_(users=(), roles=(), affiliations=())
    return {
        "user": u.username,
        "role": u.role,
        "affiliation": u.affiliation,
        **_seen(u.first_seen, u.last_seen),
        **_profile(conn, everyone.with_(users=(username,)), everyone, "user", u.id),
    }


def machine_profile(conn: Connection, name: str, filters: Filters) -> dict[str, Any] | None:
    """One machine in the range: type, first/last seen, totals, users seen, size distribution, time series, its
    standing among all machines and its usual level. The filters' machine and type lists are replaced. None
    when no such machine exists, or none the asker's users (filters.visible_users) ever used: a machine is known
    to a scoped asker through their own IO only, and so are its first and last seen."""
    m = conn.execute(select(machines).where(machines.c.name == name)).one_or_none()
    seen = machine_seen(Reader(conn), filters, {m.id}) if m is not None else {}
    if m is None or m.id not in seen:
        return None
    everyone = filters.with_(machines=(), machine_types=())
    return {
        "machine": m.name,
        "machine_type": m.machine_type,
        **_seen(*seen[m.id]),
        **_profile(conn, everyone.with_(machines=(name,)), everyone, "machine", m.id),
    }


def _seen(first: int, last: int) -> dict[str, Any]:
    return {
        "first_seen": iso_utc(first),
        "last_seen": iso_utc(last),
        "first_hour": iso_utc(hour_of(first)),
        "last_hour": iso_utc(hour_of(last)),
    }


def _profile(conn: Connection, filters: Filters, everyone: Filters, kind: str, subject_id: int) -> dict[str, Any]:
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
    other = "machine" if kind == "user" else "user"
    rows = users_rows if other == "user" else machines_rows
    listed = rows(reader, scope, sort="operations", order="desc", limit=None)
    size = distribution(reader, scope)
    drawn = series(reader, scope, None, "none", 10)
    all_of_them = group_totals(reader, resolve(conn, everyone), (kind,), measures=("operations", "bytes_mid"))
    return {
        "range": scope.range_fields(),
        "totals": totals,
        f"{other}s": listed,
        "sizes": size["buckets"],
        "bytes_estimate": BYTES_ESTIMATE,
        "series": {k: drawn[k] for k in ("bucket", "tz", "buckets", "points")},
        # Among only the users the asker may see it would read "1st of 1": a scoped asker gets none (their share of
        # the rest of the cluster is share.everyone_else, one anonymous figure).
        "standing": standing(all_of_them, (subject_id,), f"{kind}s") if filters.visible_users is None else None,
        "usual": usual_level(reader, scope, every),
    }
