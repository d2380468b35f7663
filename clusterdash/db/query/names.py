"""Whether the names a question gives exist: a user, machine, machine type, role or affiliation that nothing stored
has is a mistake to report (with the closest stored names), never a silently empty answer."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from sqlalchemy import Connection, select

from clusterdash.db.filters import Filters
from clusterdash.db.schema import machines, users
from clusterdash.db.vocabulary import NAMES
from clusterdash.errors import BadParameter

COLUMNS = {
    "user": users.c.username,
    "machine": machines.c.name,
    "machine_type": machines.c.machine_type,
    "role": users.c.role,
    "affiliation": users.c.affiliation,
}
SUGGESTIONS = 3


def unknown_names(conn: Connection, parameter: str, names: Sequence[str]) -> list[str]:
    """The names among `names` that no stored user (machine, machine type, role, affiliation: `parameter`) has, in
    the order given; one query."""
    if not names:
        return []
    column = COLUMNS[parameter]
    found = set(conn.execute(select(column).where(column.in_(sorted(set(names)))).distinct()).scalars())
    return [name for name in names if name not in found]


def closest_names(conn: Connection, parameter: str, name: str, n: int = SUGGESTIONS) -> list[str]:
    """The stored names most like `name` (difflib), best first."""
    column = COLUMNS[parameter]
    stored = list(conn.execute(select(column).where(column.is_not(None)).distinct()).scalars())
    return difflib.get_close_matches(name, stored, n=n, cutoff=0.5)


def check_names(conn: Connection, filters: Filters) -> None:
    """BadParameter naming the first parameter (user, machine, machine_type, role, affiliation) that names nothing
    stored, with the value and the closest stored names; one query per parameter given."""
    for p in NAMES:
        assert p.field is not None
        missing = unknown_names(conn, p.name, getattr(filters, p.field))
        if missing:
            close = closest_names(conn, p.name, missing[0])
            hint = f" (closest: {', '.join(close)})" if close else f" (no {p.noun} is close to it)"
            more = f"; {len(missing) - 1} more unknown" if len(missing) > 1 else ""
            raise BadParameter(p.name, f"no {p.noun} named {missing[0][:100]!r}{hint}{more}")
