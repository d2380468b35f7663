"""The rollups' state: whether they are complete, in which zone and layout (RollupState), making them so
(ensure_rollups, rebuild_rollups), and the machine types the per-user rollups are filed under (RollupMachineTypes).

The zone always comes from the caller (db/ reads no settings): the server's display zone, or for the ingest the
zone the rollups are in already.
"""

from __future__ import annotations

import logging
import time
import weakref
from typing import NamedTuple

import numpy as np
from sqlalchemy import ColumnElement, Connection, Engine, delete, inspect, select

from clusterdash.db import sizes
from clusterdash.db.periods import zone
from clusterdash.db.rollups.summarise import Buckets, int_array, summarise
from clusterdash.db.rollups.write import write_rows
from clusterdash.db.schema import (
    DIRECTIONS,
    ROLLUP_TABLES,
    io_operations,
    machines,
    rollup_machine_types,
    rollup_state,
    user_sessions,
)

log = logging.getLogger("clusterdash.rollups")

VERSION = 9  # of the rollup layout: a database with another version is rebuilt
LEGACY_TABLES = ("RollupZone",)  # layout 1 kept its zone here


class StoredState(NamedTuple):
    zone: str
    version: int

    @property
    def current(self) -> bool:
        """Whether the rollups are complete in this code's layout."""
        return self.version == VERSION


_tables_seen: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()


def _state_table_exists(conn: Connection) -> bool:
    """Whether RollupState exists (remembered per engine once it does: tables are created, not dropped)."""
    engine = conn.engine
    if _tables_seen.get(engine):
        return True
    exists = inspect(conn).has_table(rollup_state.name)
    if exists:
        _tables_seen[engine] = True
    return exists


def stored_state(conn: Connection) -> StoredState | None:
    """The recorded state; None when the rollups were never built or are being rebuilt (no row)."""
    if not _state_table_exists(conn):
        return None
    row = conn.execute(select(rollup_state.c.zone, rollup_state.c.version).where(rollup_state.c.id == 1)).first()
    return None if row is None else StoredState(row[0], row[1])


def rollup_zone(conn: Connection) -> str | None:
    """The zone of the rollups when they are complete and of this layout; None when the queries must read the
    raw tables (never built, being rebuilt, an older layout)."""
    state = stored_state(conn)
    return state.zone if state is not None and state.current else None


def ensure_rollups(conn: Connection, zone_name: str, *, keep_zone: bool = False) -> str:
    """Make the rollups complete, inside the caller's write transaction (db.setup.prepare_database's), and return
    their zone: `zone_name`, or with `keep_zone` the zone they are complete in already, if any. Rollups that are
    missing, of an older layout or (without keep_zone) in another zone are rebuilt from the raw tables, with a log
    line saying why and how long it took; on a database with no sessions yet they are just recorded complete."""
    zone(zone_name)
    state = stored_state(conn)
    if state is not None and state.current and (keep_zone or state.zone == zone_name):
        return state.zone
    target = state.zone if keep_zone and state is not None else zone_name
    if conn.execute(select(user_sessions.c.id).limit(1)).first() is None:
        rebuild_rollups(conn, target)  # nothing to sum: empty tables, recorded complete
        return target
    why = (
        "there were none"
        if state is None
        else f"layout {state.version} -> {VERSION}"
        if not state.current
        else f"zone {state.zone} -> {target}"
    )
    log.warning("rebuilding the rollups in %s (%s) ...", target, why)
    started = time.perf_counter()
    sessions = rebuild_rollups(conn, target)
    log.warning(
        "rebuilt the rollups in %s: %s sessions in %.1f s", target, f"{sessions:,}", time.perf_counter() - started
    )
    return target


def rebuild_rollups(conn: Connection, zone_name: str, chunk: int = 40000) -> int:
    """Recompute every rollup from the raw tables in `zone_name`, and record the state; returns the number of
    sessions. Streams the sessions in id order, `chunk` at a time."""
    zone(zone_name)
    _reset_tables(conn)
    buckets = Buckets(sizes.stored_weights(conn))
    types = machine_types(conn)
    if types:
        conn.execute(
            rollup_machine_types.insert(), [{"machine_id": mid, "machine_type": name} for mid, name in types.items()]
        )
    o = io_operations.c
    last, total = 0, 0
    while True:
        sessions = session_keys(conn, user_sessions.c.id > last, limit=chunk)
        if not len(sessions):
            break
        high = int(sessions[-1, 0])
        rows = int_array(
            conn.execute(
                select(o.session_id, o.size_range_id, o.count).where(o.session_id > last, o.session_id <= high)
            ).all(),
            3,
        )
        write_rows(conn, summarise(sessions, np.ones(len(sessions), dtype=bool), rows, zone_name, buckets, types))
        last, total = high, total + len(sessions)
    _set_state(conn, zone_name)
    return total


def session_keys(conn: Connection, condition: ColumnElement[bool], limit: int | None = None) -> np.ndarray:
    """The sessions matching `condition`, in id order, as an (n, 5) array: id, epoch, user_id, machine_id and
    direction (0 rd, 1 wr)."""
    s = user_sessions.c
    query = select(s.id, s.epoch, s.user_id, s.machine_id, s.direction).where(condition).order_by(s.id)
    found = conn.execute(query if limit is None else query.limit(limit)).all()
    return int_array(((sid, epoch, uid, mid, DIRECTIONS.index(d)) for sid, epoch, uid, mid, d in found), 5, len(found))


def _reset_tables(conn: Connection) -> None:
    """Empty every rollup table; a table whose stored columns differ from its declaration (an older layout) is
    dropped and created again."""
    inspector = inspect(conn)
    existing = set(inspector.get_table_names())
    for name in LEGACY_TABLES:
        if name in existing:
            conn.exec_driver_sql(f'DROP TABLE "{name}"')
    for table in ROLLUP_TABLES:
        if table.name in existing:
            stored = [c["name"] for c in inspector.get_columns(table.name)]
            if stored == [c.name for c in table.columns]:
                conn.execute(delete(table))
                continue
            table.drop(conn)
        table.create(conn)


def _set_state(conn: Connection, zone_name: str) -> None:
    conn.execute(delete(rollup_state))
    conn.execute(rollup_state.insert().values(id=1, zone=zone_name, version=VERSION, built_at=int(time.time())))


# -- machine types ----------------------------------------------------------------------------------------------


def machine_types(conn: Connection) -> dict[int, str]:
    """Each machine's current type (the loader keeps the latest it read)."""
    return dict(conn.execute(select(machines.c.id, machines.c.machine_type)).all())


def file_machine_types(conn: Connection, zone_name: str) -> dict[int, str] | None:
    """Before rows are added to the rollups in `zone_name`: each machine's type, the new machines filed under theirs
    (RollupMachineTypes). None when a machine's type has changed since its rows were filed: its history moves to
    the new type, which is rare enough to rebuild every rollup, the rows just added among them (they are stored)."""
    types = machine_types(conn)
    filed = dict(conn.execute(select(rollup_machine_types.c.machine_id, rollup_machine_types.c.machine_type)).all())
    if any(types.get(mid) != name for mid, name in filed.items()):
        started = time.perf_counter()
        count = rebuild_rollups(conn, zone_name)
        log.warning(
            "a machine type changed: rebuilt the rollups (%s sessions in %.1f s)",
            f"{count:,}",
            time.perf_counter() - started,
        )
        return None
    new_types = [{"machine_id": mid, "machine_type": name} for mid, name in types.items() if mid not in filed]
    if new_types:
        conn.execute(rollup_machine_types.insert(), new_types)
    return types
