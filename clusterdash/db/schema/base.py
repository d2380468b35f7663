"""The one MetaData every table is declared on, and the rules the declarations share."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Text

metadata = MetaData()

# A histogram counts the reads ('rd') or the writes ('wr') served to one client.
DIRECTIONS = ("rd", "wr")


def rejected_line_columns(*where: Column) -> list[Column]:
    """The columns of a table of bad input lines kept for inspection (RejectedLines, RejectedJobLines): `identity`
    makes the same line read again count once; `where` says more of where it was, after its line number."""
    return [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("identity", String(96), nullable=False, unique=True),
        Column("source", Text, nullable=False),
        Column("line_number", BigInteger, nullable=False),
        *where,
        Column("text", Text, nullable=False),
        Column("reason", Text, nullable=False),
        Column("seen_at", BigInteger, nullable=False),
    ]
