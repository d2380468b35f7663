"""Who and what a question covers: its `Filters` resolved to ids and a range of hours (a `Scope`), the WHERE
clauses that say so on a rollup or on UserSessions, and the `Reader` that holds one request's connection and
what it has already read."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from sqlalchemy import Connection, Table, select

from clusterdash.db import sizes
from clusterdash.db.filters import Filters
from clusterdash.db.periods import HOUR, hour_of
from clusterdash.db.query.coverage import blocks
from clusterdash.db.query.jobselect import selected
from clusterdash.db.rollups import rollup_zone
from clusterdash.db.schema import io_size_ranges, machines, users
from clusterdash.db.timefmt import iso_utc

T = TypeVar("T")
Ids = tuple[int, ...]
# A longer IN list filters rows instead of multiplying index seeks (a period holds ~100 ids' rows).
SEEK_IDS = 96


@dataclass(frozen=True)
class Scope:
    """Filters resolved to ids and a concrete range of hours [first_hour, end_hour). Immutable: a question on
    part of it is a copy (`narrowed`), which is a different key for whatever a Reader remembers."""

    filters: Filters
    first_hour: int
    end_hour: int
    user_ids: Ids | None  # None: every user
    machine_ids: Ids | None
    size_ids: Ids | None
    zone: str | None  # of the rollups; None: no complete rollups, read the raw tables
    weights: Mapping[int, sizes.Weights] = field(compare=False, repr=False)  # of every stored size bucket
    # The machine types machine_ids stand for, when they were chosen by type only (the per-user rollups are kept
    # per machine type); None when machine_ids is None or names machines.
    types: tuple[str, ...] | None = None

    @property
    def empty(self) -> bool:
        return self.first_hour >= self.end_hour or () in (self.user_ids, self.machine_ids, self.size_ids)

    def range_fields(self) -> dict[str, Any]:
        """The `range` of an answer: the hours it covers."""
        return {
            "start": iso_utc(self.first_hour),
            "end": iso_utc(self.end_hour),
            "start_epoch": self.first_hour,
            "end_epoch": self.end_hour,
            "hours": (self.end_hour - self.first_hour) // HOUR,
        }

    def narrowed(self, **changes: Any) -> Scope:
        """A copy with some fields changed; id lists become sorted tuples."""
        for name in ("user_ids", "machine_ids", "size_ids"):
            if changes.get(name) is not None:
                changes[name] = tuple(sorted(changes[name]))
        return replace(self, **changes)


def visible(filters: Filters, username: Any) -> list:
    """The access scope as WHERE clauses on a username column: none when everything is visible, else only the
    usernames in filters.visible_users. The one statement of the rule: resolve() applies it to every question,
    and the few lookups by name that need no Scope (a profile's user, an example name) apply it here too."""
    return [] if filters.visible_users is None else [username.in_(filters.visible_users)]


def resolve(conn: Connection, filters: Filters) -> Scope:
    """Names to ids (via the small Users/Machines/IOSizeRanges tables) and open range ends to the data's extent.
    The user ids are always within the access scope (filters.visible_users): a user outside it resolves exactly
    like one that does not exist."""
    first, last = blocks(conn).extent
    lo, hi = filters.hour_range()
    if lo is None:
        lo = hour_of(first) if first is not None else 0
    if hi is None:
        hi = hour_of(last) + HOUR if last is not None else lo
    user_ids = machine_ids = size_ids = None
    if filters.filters_users or filters.visible_users is not None:
        query = select(users.c.id).where(*visible(filters, users.c.username))
        for col, wanted in (
            (users.c.username, filters.users),
            (users.c.role, filters.roles),
            (users.c.affiliation, filters.affiliations),
        ):
            if wanted:
                query = query.where(col.in_(wanted))
        user_ids = tuple(sorted(conn.execute(query).scalars()))
    if filters.filters_machines:
        query = select(machines.c.id)
        for col, wanted in ((machines.c.name, filters.machines), (machines.c.machine_type, filters.machine_types)):
            if wanted:
                query = query.where(col.in_(wanted))
        machine_ids = tuple(sorted(conn.execute(query).scalars()))
    if filters.sizes:
        size_ids = tuple(
            sorted(conn.execute(select(io_size_ranges.c.id).where(io_size_ranges.c.label.in_(filters.sizes))).scalars())
        )
    types = filters.machine_types if filters.machine_types and not filters.machines else None
    if filters.jobs:  # the selected jobs' users, machines and hours
        chosen = selected(conn, filters.jobs, filters.visible_users)
        user_ids = _within(user_ids, chosen.user_ids)
        machine_ids, types = _within(machine_ids, chosen.machine_ids), None
        lo, hi = max(lo, chosen.first_hour), min(hi, chosen.end_hour)
    return Scope(
        filters,
        lo,
        max(lo, hi),
        user_ids,
        machine_ids,
        size_ids,
        rollup_zone(conn),
        sizes.stored_weights(conn),
        types=types,
    )


def _within(ids: Ids | None, chosen: Ids) -> Ids:
    return chosen if ids is None else tuple(sorted(set(ids) & set(chosen)))


class Reader:
    """One request's reads: its connection, and what it has read that another part of the answer may ask again
    (a profile asks for the same raw rows per direction, per user or machine and per bucket). It lives as long
    as one public call; a key names everything the value depends on, its scope included, so a scope derived
    from another never reads the other's sums."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._found: dict[tuple, Any] = {}

    def remember(self, key: tuple, read: Callable[[], T]) -> T:
        """The value of `read()` for `key`, read once per Reader."""
        if key not in self._found:
            self._found[key] = read()
        return self._found[key]

    def all_ids(self, dimension: str) -> list:
        """Every user id, machine id or machine type (dimension "user", "machine", "machine_type")."""
        col = {"user": users.c.id, "machine": machines.c.id, "machine_type": machines.c.machine_type}[dimension]
        return self.remember(("ids", dimension), lambda: sorted(self.conn.execute(select(col).distinct()).scalars()))

    def labels(self, dimension: str) -> dict[int, Any]:
        """A user's role or a machine's type by id (dimension "role" or "machine_type")."""
        other, _, name = LABELS[dimension]
        return self.remember(("labels", dimension), lambda: dict(self.conn.execute(select(other.c.id, other.c[name]))))


# A role or machine type is the user's or machine's current one: (table, id column of the rollup or session, name).
LABELS: dict[str, tuple[Table, str, str]] = {
    "role": (users, "user_id", "role"),
    "machine_type": (machines, "machine_id", "machine_type"),
}


def where(scope: Scope, user_col: Any, machine_col: Any, direction_col: Any, key: Iterable[str] = ()) -> list:
    """The user/machine/direction filters. `key`: the id columns in the order of the index used (after grain and
    start for a rollup); a short IN list on a leading one lets SQLite seek (periods x ids); a long one, or one
    behind an unconstrained column or outside the index, only filters (`col + 0` keeps SQLite from
    multiplying seeks or choosing another index)."""
    columns = {"user": (user_col, scope.user_ids), "machine": (machine_col, scope.machine_ids)}
    key = tuple(key)
    clauses = []
    seeks, leading = 1, True
    for name in key:
        col, ids = columns[name]
        if col is None:
            continue
        if ids is None:
            leading = False
            continue
        seek = leading and seeks * len(ids) <= SEEK_IDS
        clauses.append(col.in_(ids) if seek else (col + 0).in_(ids))
        seeks, leading = seeks * len(ids), seek
    for name, (col, ids) in columns.items():
        if name not in key and col is not None and ids is not None:
            clauses.append((col + 0).in_(ids))
    if scope.filters.direction != "both":
        clauses.append(direction_col == scope.filters.direction)
    return clauses


def rollup_where(scope: Scope, table: Table) -> list:
    """The user/machine/direction filters on a rollup table (a machine type filter on a per-type one)."""
    t = table.c
    if "machine_type" in t:
        clauses = where(scope, t.user_id, None, t.direction, ("user",))
        if scope.types is not None:
            clauses.append(t.machine_type.in_(scope.types))
        return clauses
    return where(
        scope,
        t.user_id if "user_id" in t else None,
        t.machine_id if "machine_id" in t else None,
        t.direction,
        ("user", "machine"),
    )
