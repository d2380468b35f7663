"""Writing rollup rows: set-wise upserts that add to what is stored (every measure is additive; the `buckets`
bit sets are OR-ed). One statement per table and batch: VALUES rows on SQLite (bulk.execute_values), one array
per column through unnest on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

import numpy as np
from sqlalchemy import BigInteger, Connection, Float, Integer, String, Table

from clusterdash.db.bulk import execute_values
from clusterdash.db.schema import metadata

_PG_TYPES = {BigInteger: "bigint", Integer: "integer", Float: "double precision", String: "text"}


@cache
def _upsert_sql(table_name: str, dialect: str) -> tuple[str, str]:
    """(head, tail) of the upsert: on SQLite the VALUES rows go between them (bulk.execute_values); on
    PostgreSQL the head is the whole statement, one array per column."""
    table = metadata.tables[table_name]
    names = [c.name for c in table.columns]
    keys = [c.name for c in table.primary_key.columns]
    quoted = ", ".join(f'"{n}"' for n in names)
    sets = ", ".join(
        f'"{c.name}" = "{table.name}"."{c.name}" {"|" if c.name == "buckets" else "+"} excluded."{c.name}"'
        for c in table.columns
        if c.name not in keys
    )
    conflict = f"ON CONFLICT ({', '.join(chr(34) + k + chr(34) for k in keys)}) DO UPDATE SET {sets}"
    if dialect == "sqlite":
        return f'INSERT INTO "{table.name}" ({quoted})', conflict
    arrays = ", ".join(f"%s::{_PG_TYPES[type(c.type)]}[]" for c in table.columns)
    return f'INSERT INTO "{table.name}" ({quoted}) SELECT * FROM unnest({arrays}) {conflict}', ""


def upsert_sums(conn: Connection, table: Table, columns: list[np.ndarray]) -> None:
    """Add rows given as one array per column (table order, keys unique) to the table: new keys are inserted,
    the measures of stored keys summed (the `buckets` bit sets OR-ed). Any table whose non-key columns all add up
    (the rollups, the jobs' JobDays)."""
    if not columns or len(columns[0]) == 0:
        return
    if conn.dialect.name == "sqlite":
        head, tail = _upsert_sql(table.name, "sqlite")
        execute_values(conn, head, len(columns), columns, tail, by_column=True)
    else:  # one statement, one array per column
        conn.exec_driver_sql(
            _upsert_sql(table.name, "postgresql")[0],
            tuple(c.tolist() if isinstance(c, np.ndarray) else c for c in columns),
        )


def write_rows(conn: Connection, summary: Iterable[tuple[Table, list[np.ndarray]]]) -> None:
    """Upsert rollup rows given table by table (summarise.summarise_cells), each table's before the next is made."""
    for table, columns in summary:
        upsert_sums(conn, table, columns)
        del columns  # not held while the next table's rows are made
