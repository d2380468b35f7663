"""Sums of operation counts, exact and checked: the database keeps them in 64-bit integer columns, and numpy's
integer sums wrap around silently where a float sum would round (a float64 is exact only below 2**53).

The rule that makes every stored total safe: counts are never negative, so any sum of some of them (a session, a
rollup row of any grain, an SQL SUM over any filter) is at most the sum of all of them. The ingest keeps the
database's total below INT64_MAX (ingest.refuse), and these helpers check each batch where it is summed.
"""

from __future__ import annotations

import numpy as np

INT64_MAX = 2**63 - 1


class TotalTooLarge(ValueError):
    """Counts whose total a 64-bit column cannot hold (or a negative count, which no total may contain)."""


def check_summable(values: np.ndarray, what: str) -> None:
    """Raise TotalTooLarge unless the integer `values` are all non-negative and add up to at most INT64_MAX: then
    every sum of some of them, grouped in any way, is exact in int64. Costs a min and a max over the values."""
    if not len(values):
        return
    low, high = int(values.min()), int(values.max())
    if low < 0:
        raise TotalTooLarge(f"{what}: a negative count ({low:,})")
    if high <= INT64_MAX // len(values):
        return
    total = sum(values.ravel().tolist())  # only near the limit: exact, in Python integers
    if total > INT64_MAX:
        raise TotalTooLarge(f"{what} add up to {total:,}, past {INT64_MAX:,}, the most a 64-bit column holds")


def sums_by_group(groups: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """values summed per group (0 <= groups < size), in int64 (np.bincount would sum in float64). The caller has
    checked the values (check_summable)."""
    out = np.zeros(size, dtype=np.int64)
    np.add.at(out, groups, values)
    return out
