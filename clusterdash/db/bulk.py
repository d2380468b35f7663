"""Bulk inserts that stay fast: the ingest writes about 130k rows per month of log."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from typing import TypeVar

import numpy as np
from sqlalchemy import Connection, Index, Select, Table, insert

# Bound parameters per statement: SQLite before 3.32 allows 999, later versions 32766. Statements of a few
# hundred parameters already take nearly all of the gain.
SQLITE_PARAMETERS = 999
IN_CHUNK = 500  # values per IN list: well inside SQLITE_PARAMETERS, with room for the statement's own

T = TypeVar("T")

Rows = Sequence[tuple] | np.ndarray


def in_chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    """`values` in slices of IN_CHUNK, one IN list each."""
    for start in range(0, len(values), IN_CHUNK):
        yield values[start : start + IN_CHUNK]


def insert_rows(conn: Connection, table: Table, columns: Sequence[str], rows: Rows) -> None:
    """INSERT `rows` (tuples in `columns` order, or a 2-D integer array) into `table`, in the caller's transaction.

    On SQLite the rows go as multi-row VALUES statements (see execute_values). On PostgreSQL with psycopg they
    are streamed with COPY on the same connection (so in the same transaction): several times faster than an
    executemany of INSERTs. Other drivers take SQLAlchemy's batched executemany ("insertmanyvalues").
    """
    if len(rows) == 0:
        return
    if conn.dialect.name == "sqlite":
        execute_values(conn, f'INSERT INTO "{table.name}" ({_quoted(columns)})', len(columns), rows)
        return
    _insert_elsewhere(conn, table, columns, rows.tolist() if isinstance(rows, np.ndarray) else rows)


def insert_columns(conn: Connection, table: Table, columns: Sequence[str], values: Sequence[np.ndarray | list]) -> None:
    """insert_rows for rows given column by column (one array or list per name in `columns`, all of one length):
    the rows are made a statement group at a time and dropped, never held all at once as tuples."""
    if not len(values[0]):
        return
    if conn.dialect.name == "sqlite":
        execute_values(conn, f'INSERT INTO "{table.name}" ({_quoted(columns)})', len(columns), values, by_column=True)
        return
    lists = [v.tolist() if isinstance(v, np.ndarray) else v for v in values]
    _insert_elsewhere(conn, table, columns, zip(*lists))


def _insert_elsewhere(conn: Connection, table: Table, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    """insert_rows on PostgreSQL and other databases than SQLite."""
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        driver = conn.connection.driver_connection
        assert driver is not None  # an open Connection holds its driver's connection
        cursor = driver.cursor()
        try:
            with cursor.copy(f'COPY "{table.name}" ({_quoted(columns)}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
        finally:
            cursor.close()
    else:
        conn.execute(insert(table), [dict(zip(columns, row)) for row in rows])


def execute_values(
    conn: Connection,
    head: str,
    width: int,
    rows: Rows | Sequence[np.ndarray | list],
    tail: str = "",
    by_column: bool = False,
) -> None:
    """Run `head VALUES (?, ...), (?, ...), ... tail` on SQLite, many rows per statement. `rows`: tuples of
    `width` values, an (n, width) array, or with by_column=True one sequence (list or array) per column.

    Why: the sqlite3 module's executemany costs about 1.5 us per row here (a step and a reset per row), which
    for a month of log is more than parsing it; one statement per few hundred rows runs about 3x faster. The
    two statement texts (full chunks, one row) are reused, so SQLite's statement cache keeps them compiled.
    Rows become Python values a group of statements at a time, so memory stays small for any number of rows.
    """
    count = len(rows[0]) if by_column else len(rows)
    per_statement = max(1, SQLITE_PARAMETERS // width)
    values = "(" + ", ".join("?" * width) + ")"
    full_sql = f"{head} VALUES {', '.join([values] * per_statement)} {tail}"
    group = per_statement * 32
    for start in range(0, count, group):
        flat = _flat(rows, start, min(count, start + group), by_column)
        n = len(flat) // width
        full = n // per_statement
        step = per_statement * width
        if full:
            conn.exec_driver_sql(full_sql, [tuple(flat[i : i + step]) for i in range(0, full * step, step)])
        if n > full * per_statement:  # the last few rows one by one: a statement per remainder length would
            # fill the driver's statement cache with large compiled statements (megabytes each few hundred rows)
            conn.exec_driver_sql(
                f"{head} VALUES {values} {tail}",
                [tuple(flat[i : i + width]) for i in range(full * step, len(flat), width)],
            )


def _flat(rows, start: int, stop: int, by_column: bool) -> list:
    """Rows start..stop as one flat, row-major list of Python values."""
    if by_column:
        columns = [c[start:stop].tolist() if isinstance(c, np.ndarray) else c[start:stop] for c in rows]
        return list(chain.from_iterable(zip(*columns)))
    if isinstance(rows, np.ndarray):
        return rows[start:stop].ravel().tolist()
    return list(chain.from_iterable(rows[start:stop]))


def _quoted(columns: Sequence[str]) -> str:
    return ", ".join(f'"{name}"' for name in columns)


def drop_secondary_indexes(conn: Connection, table: Table) -> list[Index]:
    """Drop `table`'s declared non-unique indexes inside the caller's transaction and return them, for a bulk load
    to create again (create_indexes) before it commits: building an index from the finished table sorts it once,
    while inserting row by row into an index keyed by user or machine touches its pages all over. The drop is
    part of the transaction: readers keep the indexes in their snapshot, and a rollback or crash restores them.
    SQLite only (PostgreSQL's DROP INDEX would lock the table against readers until the commit)."""
    if conn.dialect.name != "sqlite":
        return []
    dropped = [index for index in sorted(table.indexes, key=lambda i: str(i.name)) if not index.unique]
    for index in dropped:
        index.drop(conn)
    return dropped


def create_indexes(conn: Connection, indexes: Sequence[Index]) -> None:
    for index in indexes:
        index.create(conn)


def fetch_columns(conn: Connection, query: Select, width: int) -> list[tuple]:
    """The rows of `query` (a SELECT of `width` columns) as one tuple per column, read through the driver's cursor
    in the caller's transaction: no Row object per row, a large part of reading the tens of thousands of rows of a
    month of sessions or jobs. Values come as the driver gives them (ints, floats, text: no type processing)."""
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params: object = compiled.params
    if compiled.positional:
        params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    driver = conn.connection.driver_connection
    assert driver is not None  # an open Connection holds its driver's connection
    cursor = driver.cursor()
    try:
        cursor.execute(str(compiled), params)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return list(zip(*rows)) if rows else [() for _ in range(width)]
