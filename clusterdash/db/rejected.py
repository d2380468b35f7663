"""Keeping bad input lines for inspection: the IO log's (RejectedLines) and sacct's (RejectedJobLines) alike."""

from __future__ import annotations

from sqlalchemy import Connection, Table, insert, select

from clusterdash.db.bulk import in_chunks


def keep_new_lines(conn: Connection, table: Table, lines: dict[str, dict]) -> int:
    """Insert into `table` the rows of `lines` (identity -> row) whose identity it does not hold yet, so a line read
    again counts once; returns how many were new."""
    known: set[str] = set()
    identities = list(lines)
    for chunk in in_chunks(identities):
        query = select(table.c.identity).where(table.c.identity.in_(chunk))
        known.update(conn.execute(query).scalars())
    fresh = [
        {**row, "text": row["text"].replace("\x00", "\ufffd")}  # PostgreSQL's text cannot hold NUL
        for identity, row in lines.items()
        if identity not in known
    ]
    if fresh:
        conn.execute(insert(table), fresh)
    return len(fresh)
