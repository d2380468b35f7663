"""Preparing a database, once, at the start of every entry point (the CLI's init, ingest, demo and serve; the app
factory that gunicorn also uses): prepare_database. Nothing else creates tables or builds rollups."""

from __future__ import annotations

import logging
from typing import NamedTuple

from sqlalchemy import Connection, Engine, Index, inspect

from clusterdash.db.engine import write_transaction
from clusterdash.db.periods import zone
from clusterdash.db.rollups import ensure_rollups, rollup_zone
from clusterdash.db.schema import ACCOUNT_TABLES, metadata

log = logging.getLogger("clusterdash.setup")


class Prepared(NamedTuple):
    created: list[str]  # the tables created now (all of them on a new database)
    zone: str  # of the rollups, now complete


def prepare_database(engine: Engine, zone_name: str, *, keep_zone: bool = False) -> Prepared:
    """Create the missing tables and indexes and make the rollups complete in `zone_name` (rebuilding them when
    missing, of an older layout or in another zone; the rebuild is logged with the time it took). With
    `keep_zone`, rollups complete in another zone stay in it: `clusterdash init`, `ingest` and `demo` show nothing
    by zone, so they leave it to the server and use `zone_name` only for rollups built now.

    Safe to run any number of times, by several processes at once (the work is done under the writer lock, after
    looking again); a prepared database costs a look at its tables and state, without taking the lock."""
    zone(zone_name)  # a bad zone is refused before anything is written
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        ready = not _missing_tables(tables) and not _missing_indexes(conn, tables)
        stored = rollup_zone(conn) if ready else None
    if stored is not None and (keep_zone or stored == zone_name):
        return Prepared([], stored)
    with write_transaction(engine) as conn:
        tables = set(inspect(conn).get_table_names())  # again, under the lock: another process may have done it
        created = _missing_tables(tables)
        metadata.create_all(conn, checkfirst=True)
        for index in _missing_indexes(conn, tables):  # declared since its table was created
            index.create(conn)
        settled = ensure_rollups(conn, zone_name, keep_zone=keep_zone)
    if created:
        log.info("created %d tables: %s", len(created), ", ".join(created))
    return Prepared(created, settled)


def schema_is_initialised(engine: Engine) -> bool:
    """Whether every table of the log exists (read-only: for commands that only read, such as `clusterdash stats`;
    a database from before access control, without its tables, still holds data to read)."""
    missing = _missing_tables(set(inspect(engine).get_table_names()))
    return not set(missing) - {t.name for t in ACCOUNT_TABLES}


def _missing_tables(existing: set[str]) -> list[str]:
    return [t.name for t in metadata.sorted_tables if t.name not in existing]


def _missing_indexes(conn: Connection, existing: set[str]) -> list[Index]:
    inspector = inspect(conn)
    missing: list[Index] = []
    for table in metadata.sorted_tables:
        if table.name in existing and table.indexes:
            names = {i["name"] for i in inspector.get_indexes(table.name)}
            missing += [index for index in table.indexes if index.name not in names]
    return missing
