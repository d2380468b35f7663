"""Bulk inserts that stay fast: the ingest writes about 130k rows per month of log."""

from __future__ import annotations

from itertools import chain
from typing import Sequence, Union

import numpy as np
from sqlalchemy import Connection, Table, insert

# Bound parameters per statement: SQLite before 3.32 allows 999, later versions 32766. Statements of a few
# hundred parameters already take nearly all of the gain.
SQLITE_PARAMETERS = 999

Rows = Union[Sequence[tuple], np.ndarray]


def insert_rows(conn: Connection, table: Table, columns: Sequence[str], rows: Rows) -> None:
    """INSERT `rows` (tuples in `columns` order, or a 2-D integer array) into `table`, in the caller's transaction.

    On SQLite the rows go as multi-row VALUES statements (see execute_values). On PostgreSQL with psycopg they
    are streamed with COPY on the same connection (so in the same transaction): several times faster than an
    executemany of INSERTs. Other drivers take SQLAlchemy's batched executemany ("insertmanyvalues").
    """
    if len(rows) == 0:
        return
    if conn.dialect.name == "sqlite":
        flat = rows.ravel().tolist() if isinstance(rows, np.ndarray) else list(chain.from_iterable(rows))
        execute_values(conn, f'INSERT INTO "{table.name}" ({_quoted(columns)})', len(columns), flat)
        return
    if isinstance(rows, np.ndarray):
        rows = rows.tolist()
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        cursor = conn.connection.driver_connection.cursor()
        try:
            with cursor.copy(f'COPY "{table.name}" ({_quoted(columns)}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
        finally:
            cursor.close()
    else:
        conn.execute(insert(table), [dict(zip(columns, row)) for row in rows])


def execute_values(conn: Connection, head: str, width: int, flat: list, tail: str = "") -> None:
    """Run `head VALUES (?, ...), (?, ...), ... tail` on SQLite for rows given flat (row-major, `width` values
    each), many rows per statement.

    Why: the sqlite3 module's executemany costs about 1.5 us per row here (a step and a reset per row), which
    for a month of log is more than parsing it; one statement per few hundred rows runs about 3x faster. The
    two statement texts (full chunks, remainder) are reused, so SQLite's statement cache keeps them compiled.
    """
    rows = len(flat) // width
    per_statement = max(1, SQLITE_PARAMETERS // width)
    values = "(" + ", ".join("?" * width) + ")"
    step = per_statement * width
    full = rows // per_statement
    if full:
        sql = f"{head} VALUES {', '.join([values] * per_statement)} {tail}"
        conn.exec_driver_sql(sql, [tuple(flat[i:i + step]) for i in range(0, full * step, step)])
    rest = rows - full * per_statement
    if rest:
        sql = f"{head} VALUES {', '.join([values] * rest)} {tail}"
        conn.exec_driver_sql(sql, tuple(flat[full * step:]))


def _quoted(columns: Sequence[str]) -> str:
    return ", ".join(f'"{name}"' for name in columns)
