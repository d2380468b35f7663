"""Whether the names a question gives exist: a user, machine, machine type, role or affiliation that nothing stored
has is a mistake to report (with the closest stored names), never a silently empty answer. For a scoped asker
(Filters.visible_users) "stored" means what they may see: their own users and the machines those used, so a name
outside the scope reads exactly like one nothing has, and no suggestion names what they may not see."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from sqlalchemy import Connection, Select, select

from clusterdash.db.filters import Filters
from clusterdash.db.query.scope import visible
from clusterdash.db.schema import machines, user_sessions, users
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
USER_FACTS = ("user", "role", "affiliation")


def _stored(parameter: str, filters: Filters) -> Select:
    """The distinct stored values of `parameter` the asker may see."""
    column = COLUMNS[parameter]
    query = select(column).where(column.is_not(None)).distinct()
    if filters.visible_users is None:
        return query
    own = select(users.c.id).where(*visible(filters, users.c.username))
    if parameter in USER_FACTS:
        return query.where(users.c.id.in_(own))
    used = select(user_sessions.c.machine_id).where(user_sessions.c.user_id.in_(own)).distinct()
    return query.where(machines.c.id.in_(used))


def unknown_names(conn: Connection, parameter: str, names: Sequence[str], filters: Filters | None = None) -> list[str]:
    """The names among `names` that no stored user (machine, machine type, role, affiliation: `parameter`) the
    asker may see has, in the order given; one query."""
    if not names:
        return []
    query = _stored(parameter, filters or Filters()).where(COLUMNS[parameter].in_(sorted(set(names))))
    found = set(conn.execute(query).scalars())
    return [name for name in names if name not in found]


def closest_names(conn: Connection, parameter: str, name: str, filters: Filters, n: int = SUGGESTIONS) -> list[str]:
    """The stored names the asker may see most like `name` (difflib), best first."""
    stored = list(conn.execute(_stored(parameter, filters)).scalars())
    return difflib.get_close_matches(name, stored, n=n, cutoff=0.5)


def check_names(conn: Connection, filters: Filters) -> None:
    """BadParameter naming the first parameter (user, machine, machine_type, role, affiliation) that names nothing
    stored, with the value and the closest stored names; one query per parameter given."""
    for p in NAMES:
        assert p.field is not None
        missing = unknown_names(conn, p.name, getattr(filters, p.field), filters)
        if missing:
            close = closest_names(conn, p.name, missing[0], filters)
            hint = f" (closest: {', '.join(close)})" if close else f" (no {p.noun} is close to it)"
            more = f"; {len(missing) - 1} more unknown" if len(missing) > 1 else ""
            raise BadParameter(p.name, f"no {p.noun} named {missing[0][:100]!r}{hint}{more}")
