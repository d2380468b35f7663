"""A scoped user's share of the cluster: their own operations and bytes beside everyone else's, as one anonymous
figure. The one question that reads beyond the asker's access scope, and what it returns is only that sum."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from clusterdash.db.filters import Filters
from clusterdash.db.query.measures import ZERO, Measures
from clusterdash.db.query.scope import Reader, resolve
from clusterdash.db.query.totals import active, group_totals

# Fewer other active users than this and "everyone else" would be one or two people's own figure: not shown.
MIN_OTHERS = 3


def everyone_else(conn: Connection, filters: Filters) -> dict[str, Any] | None:
    """{"operations", "bytes"} of every user outside filters.visible_users, over the same hours and direction,
    and the asker's own beside them ({"own": {...}}). No other selection applies (a machine, a size bucket, a
    role could narrow "everyone else" down to one person), so the figure is the cluster's rest in that range.
    None when nothing is hidden (visible_users is None) or fewer than MIN_OTHERS other users were active."""
    if filters.visible_users is None:
        return None
    cluster = Filters(start=filters.start, end=filters.end, direction=filters.direction, tz=filters.tz)
    reader = Reader(conn)
    everyone, own = resolve(conn, cluster), resolve(conn, cluster.with_(visible_users=filters.visible_users))
    if len(active(reader, everyone, "user") - set(own.user_ids or ())) < MIN_OTHERS:
        return None
    whole = _sum(group_totals(reader, everyone, (), measures=("operations", "bytes_mid")))
    mine = _sum(group_totals(Reader(conn), own, (), measures=("operations", "bytes_mid")))
    return {
        "operations": int(whole.operations - mine.operations),
        "bytes": float(whole.bytes_mid - mine.bytes_mid),
        "own": {"operations": int(mine.operations), "bytes": float(mine.bytes_mid)},
    }


def _sum(groups: dict[tuple, Measures]) -> Measures:
    total = ZERO
    for measured in groups.values():
        total = total + measured
    return total
