"""Bulk inserts that stay fast: the ingest writes about 100k rows per month of log."""

from __future__ import annotations

from typing import Sequence

from sqlalchemy import Connection, Table, insert


def insert_rows(conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple]) -> None:
    """INSERT `rows` (tuples in `columns` order) into `table`.

    On SQLite the statement is compiled once by SQLAlchemy and the tuples go
    straight to the driver's executemany: building a parameter dict per row
    costs more than the insert itself. Other databases take SQLAlchemy's
    batched executemany ("insertmanyvalues").
    """
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        statement = insert(table).compile(dialect=conn.dialect, column_keys=list(columns))
        order = list(statement.positiontup)
        if order != list(columns):  # the compiler lists columns in table order
            index = [list(columns).index(name) for name in order]
            rows = [tuple(row[i] for i in index) for row in rows]
        conn.exec_driver_sql(str(statement), rows)
    else:
        conn.execute(insert(table), [dict(zip(columns, row)) for row in rows])
