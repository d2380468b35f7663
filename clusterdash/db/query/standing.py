"""Where one user or machine stands among all of them in a range: its rank by operations and by estimated bytes,
and its share of their total; and "who loaded the server": every user's two shares side by side.

The rules, defined once here:
  share   the subject's sum / everyone's sum, under the same filters except the subject's own dimension (a
          user's share ignores the user, role and affiliation filters, a machine's the machine and type ones)
  rank    1 + how many have strictly more (ties share a rank), among those with operations in the range;
          None for a subject without operations
  of      how many have operations in the range
  bytes   the midpoint estimate (measures.BYTES_ESTIMATE)
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection

from clusterdash.db.filters import Filters
from clusterdash.db.query.measures import ZERO, Measures
from clusterdash.db.query.scope import Reader, resolve
from clusterdash.db.query.tables import users_rows

MEASURED = ("operations", "bytes")  # an answer's name for each ranked measure


def _value(measures: Measures, name: str) -> float:
    return measures.operations if name == "operations" else measures.bytes_mid


def ranker(values: list[float]) -> Callable[[float], int]:
    """rank(value): 1 + how many of `values` are strictly greater (a user with operations but no bytes, only
    zero-sized ones, still ranks by bytes: after everyone with some)."""
    ordered = sorted(values)

    def rank(value: float) -> int:
        return 1 + len(ordered) - bisect_right(ordered, value)

    return rank


def share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def standing(totals: Mapping[Any, Measures], subject: Any, among: str) -> dict[str, Any]:
    """The subject's rank and share among `totals` (per user or per machine, the subject's key included):
    {"among": "users", "of": N, "operations": {"rank", "share", "total"}, "bytes": {...}}."""
    active = [v for v in totals.values() if v.operations > 0]
    mine = totals.get(subject, ZERO)
    answer: dict[str, Any] = {"among": among, "of": len(active)}
    for name in MEASURED:
        values = [_value(v, name) for v in active]
        whole = sum(values)
        answer[name] = {
            "rank": ranker(values)(_value(mine, name)) if mine.operations > 0 else None,
            "share": share(_value(mine, name), whole),
            "total": int(whole) if name == "operations" else whole,
        }
    return answer


def load_shares(conn: Connection, filters: Filters) -> dict[str, Any]:
    """Who loaded the server: each user active in the range with its share of everyone's operations and of their
    estimated bytes, its rank by each, and the share of its own operations that is small IO (< 4 KiB), most
    loading first (by the larger of its two shares; ties by name). The users, roles and affiliations filters
    apply like any other (the dashboard asks without its own user selection)."""
    scope = resolve(conn, filters)
    rows = users_rows(Reader(conn), scope, sort="operations", order="desc", limit=None)
    rows = [r for r in rows if r["operations"] > 0]
    whole = {name: sum(r[name] or 0 for r in rows) for name in MEASURED}
    ranks = {name: ranker([r[name] or 0 for r in rows]) for name in MEASURED}
    answer = []
    for r in rows:
        shares = {f"share_{name}": share(r[name] or 0, whole[name]) for name in MEASURED}
        answer.append(
            {
                **r,
                **shares,
                "small_share": share(r["small_operations"], r["operations"]),
                **{f"rank_{name}": ranks[name](r[name] or 0) for name in MEASURED},
            }
        )
    answer.sort(key=lambda r: r["user"])
    answer.sort(key=lambda r: -max(r["share_operations"] or 0, r["share_bytes"] or 0))
    return {
        "range": scope.range_fields(),
        "operations": int(whole["operations"]),
        "bytes": whole["bytes"],
        "small_operations": sum(r["small_operations"] for r in rows),
        "users": len(rows),
        "rows": answer,
    }
