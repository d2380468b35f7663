"""What a question sums: usage measures as one named value, and the rows the sources read.

A usage row (a rollup row or a UserSessions row) carries every measure; a size row carries rows and operations of
one size bucket, from which db/sizes.py's weights give the bytes and small operations (sessions then unknown).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

from clusterdash.db.sizes import Weights

BYTES_ESTIMATE = "midpoint"  # operations x the bucket's midpoint; bytes_low / bytes_high bound it


@dataclass(frozen=True, slots=True)
class Measures:
    """Usage sums of some sessions. Bytes are estimates from the size buckets (db/sizes.py); bytes_high is only
    a bound when no row was in an open bucket (unbounded_rows == 0)."""

    sessions: int = 0
    rows: int = 0  # histogram rows
    operations: int = 0
    small_operations: int = 0
    bytes_low: float = 0.0
    bytes_mid: float = 0.0
    bytes_high: float = 0.0
    unbounded_rows: int = 0

    def __add__(self, other: Measures) -> Measures:
        return Measures(
            self.sessions + other.sessions,
            self.rows + other.rows,
            self.operations + other.operations,
            self.small_operations + other.small_operations,
            self.bytes_low + other.bytes_low,
            self.bytes_mid + other.bytes_mid,
            self.bytes_high + other.bytes_high,
            self.unbounded_rows + other.unbounded_rows,
        )

    @classmethod
    def of_size(cls, weights: Weights, rows: int, operations: int) -> Measures:
        """The measures of `rows` histogram rows counting `operations` in a bucket with these weights."""
        return cls(
            0,
            rows,
            operations,
            operations if weights.small else 0,
            operations * weights.low,
            operations * weights.mid,
            operations * (weights.high or 0.0),
            rows if weights.open else 0,
        )

    @property
    def active(self) -> bool:
        """Whether anything happened: a session, or operations in the filtered size buckets."""
        return bool(self.sessions or self.operations)

    def bytes_fields(self) -> dict[str, Any]:
        """The bytes keys of an answer: the estimate and its bounds (no upper bound past an open bucket)."""
        return {
            "bytes_low": self.bytes_low,
            "bytes": self.bytes_mid,
            "bytes_high": None if self.unbounded_rows else self.bytes_high,
        }


MEASURES = tuple(f.name for f in fields(Measures))  # the order a source selects them in
ZERO = Measures()


def measures_of(values: Iterable[Any]) -> Measures:
    """Measures from the values of a source's row, selected in MEASURES order (SQL's NULL sums count 0)."""
    return Measures(*(v or 0 for v in values))


class SizeRow(NamedTuple):
    """One size bucket's rows and operations for a key: (time?, *group values), as the question groups them."""

    key: tuple
    size_id: int
    rows: int
    operations: int


def sizes_total_by(rows: Iterable[SizeRow], weights: Mapping[int, Weights]) -> dict[tuple, Measures]:
    """Size rows as usage measures per key (sessions unknown: 0). Rows and operations are summed per key and
    bucket first (integers), then weighted: the bytes are whole multiples of half a byte, exact as floats."""
    cells: dict[tuple[tuple, int], SizeRow] = {}
    for r in rows:
        found = cells.get((r.key, r.size_id))
        cells[(r.key, r.size_id)] = (
            r if found is None else found._replace(rows=found.rows + r.rows, operations=found.operations + r.operations)
        )
    totals: dict[tuple, Measures] = {}
    for cell in cells.values():
        totals[cell.key] = totals.get(cell.key, ZERO) + Measures.of_size(
            weights[cell.size_id], cell.rows, cell.operations
        )
    return totals


def operations_by(rows: Iterable[SizeRow]) -> dict[tuple, int]:
    """Operations of size rows per key (every bucket together)."""
    totals: dict[tuple, int] = {}
    for r in rows:
        totals[r.key] = totals.get(r.key, 0) + r.operations
    return totals
