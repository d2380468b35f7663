"""Blocks the loader refuses. Storing a block can fail for reasons of its own: the database's total would pass
what a 64-bit column holds (OperationsLimit), the database refuses one of its values, or a bug meets data it
did not expect. Such a block is not stored; its lines are kept as rejected lines with the reason, and the ingest
goes on with the next block (load.Loader). The database itself failing (locked, away, its disk full) is not the
block's fault: that is retried, never refused (db.engine.database_unavailable); nor is a bug (blames_the_block).
"""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.exc import StatementError

from clusterdash.db.engine import database_unavailable
from clusterdash.db.rollups import stored_operations
from clusterdash.db.sums import INT64_MAX, TotalTooLarge
from clusterdash.ingest.blocks import Block, Rejected

REASON_LIMIT = 300  # characters of an error's message quoted in a reason

# What a block's content can make fail: a value out of range (ValueError, TotalTooLarge and UnicodeError among
# them), arithmetic, a lookup, memory, the database refusing a value. Not AttributeError, TypeError, NameError or
# AssertionError: only a bug raises those, and refusing every block for it would turn a log into rejected lines.
_BLOCK_FAILURES = (ValueError, ArithmeticError, LookupError, MemoryError, StatementError)


def blames_the_block(exc: BaseException) -> bool:
    """Whether a failure while storing a block can be the block's doing, rather than the database failing (locked,
    away, its disk full: retried, see db.engine.database_unavailable) or a bug."""
    return isinstance(exc, _BLOCK_FAILURES) and not database_unavailable(exc)


class OperationsLimit:
    """Keeps the database's total operations at most INT64_MAX: every stored total (a session, a rollup row, an SQL
    SUM under any filter) adds up some of the stored counts, none negative, so none can overflow either. The stored
    total is read once (per transaction), then what each batch adds is counted."""

    def __init__(self) -> None:
        self.stored: int | None = None
        self.added = 0  # by the batches taken since the stored total was read

    def take(self, conn: Connection, operations: int) -> None:
        """Count `operations` about to be stored through `conn`; TotalTooLarge if the total would pass INT64_MAX."""
        if self.stored is None:
            self.stored = stored_operations(conn)
        total = self.stored + self.added + operations
        if total > INT64_MAX:
            raise TotalTooLarge(
                f"its {operations:,} operations would bring the database's total to {total:,}, past "
                f"{INT64_MAX:,}, the most its 64-bit totals can hold"
            )
        self.added += operations


def refusal_reason(exc: Exception) -> str:
    """The reason stored with each line of a block whose storing failed with `exc`."""
    if isinstance(exc, TotalTooLarge):
        what = str(exc)
    else:
        message = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        what = f"{type(exc).__name__}: {message[0] if message else 'no message'}"
    if len(what) > REASON_LIMIT:
        what = what[:REASON_LIMIT] + "..."
    return f"block refused: {what}; nothing of its hour is stored, its lines are kept here"


def refused_lines(block: Block, reason: str) -> list[Rejected]:
    """Every line of a refused block as a rejected line: those the parser rejected keep their own reason, the others
    get `reason` (blank lines carry nothing and are left out)."""
    own = {r.ordinal: r for r in block.rejected}
    lines: list[Rejected] = []
    text = block.source.decode("utf-8", "replace") if block.source else block.anchor
    for ordinal, line in enumerate(text.split("\n")):
        line = line.rstrip("\r")
        if ordinal in own:
            lines.append(own.pop(ordinal))
        elif line.strip():
            lines.append(Rejected(block.line + ordinal, line, reason, ordinal))
    return lines + list(own.values())
