"""Which hours have data: the blocks (kept per engine as sorted epochs), gaps, per-bucket coverage, freshness,
hours with lost events and rejected lines, and the dashboard's data_version."""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, func, select

from clusterdash.db.periods import HOUR, epoch_bounds, hour_of
from clusterdash.db.schema import jobs_state, log_entries, rejected_lines, user_sessions
from clusterdash.db.timefmt import iso_utc


@dataclass(frozen=True)
class Blocks:
    """Every block's epoch (sorted) and the distinct hours they report."""

    version: tuple  # (highest id, first epoch, last epoch): identifies the content
    epochs: np.ndarray
    hours: np.ndarray

    @property
    def extent(self) -> tuple[int | None, int | None]:
        """The first and the last block's epoch (None: no block)."""
        return self.version[1], self.version[2]

    def count(self, first_hour: int, end_hour: int) -> int:
        """Blocks in the hours [first_hour, end_hour)."""
        first, end = epoch_bounds(first_hour, end_hour)
        return int(np.searchsorted(self.epochs, end) - np.searchsorted(self.epochs, first))

    def span(self, first_hour: int, end_hour: int) -> tuple[int | None, int | None]:
        """The first and last block epoch in the hours [first_hour, end_hour)."""
        first, end = epoch_bounds(first_hour, end_hour)
        i, j = np.searchsorted(self.epochs, first), np.searchsorted(self.epochs, end)
        return (int(self.epochs[i]), int(self.epochs[j - 1])) if i < j else (None, None)

    def hours_in(self, first_hour: int, end_hour: int) -> np.ndarray:
        """The distinct hours (sorted epochs of their start) in [first_hour, end_hour) that have a block."""
        return self.hours[np.searchsorted(self.hours, first_hour) : np.searchsorted(self.hours, end_hour)]

    def gaps(self, first_hour: int, end_hour: int) -> list[dict[str, Any]]:
        """Runs of hours without a block between the first and the last block in [first_hour, end_hour)."""
        hours = self.hours_in(first_hour, end_hour)
        at = np.flatnonzero(np.diff(hours) > HOUR)
        starts, ends = (hours[at] + HOUR).tolist(), hours[at + 1].tolist()
        return [
            {"start": a, "end": b, "start_epoch": start, "end_epoch": end, "hours": (end - start) // HOUR}
            for start, end, a, b in zip(starts, ends, iso_many(starts), iso_many(ends))
        ]

    def coverage(self, bounds: list[int]) -> list[int]:
        """Per bucket [bounds[i], bounds[i+1]) (hours): how many of its hours have a block."""
        if len(bounds) < 2:
            return []
        hours = self.hours_in(bounds[0], bounds[-1])
        return np.diff(np.searchsorted(hours, np.array(bounds, dtype=np.int64))).tolist()

    def freshness(self, now: float | None) -> dict[str, Any]:
        """The newest block, whatever the filters, and its age at `now` (default: the clock)."""
        latest = self.version[2]
        now = time.time() if now is None else now
        return {
            "last_block": iso_utc(latest),
            "last_block_epoch": latest,
            "age_seconds": None if latest is None else max(0, int(now) - int(latest)),
        }


GAPS_SHOWN = 3  # the largest and the latest gaps gap_summary lists


def gap_summary(gaps: list[dict[str, Any]]) -> dict[str, Any]:
    """Of gaps as Blocks.gaps lists them: how many, how many hours they miss, the GAPS_SHOWN largest (the latest
    first among equals) and the GAPS_SHOWN latest."""
    return {
        "count": len(gaps),
        "hours": sum(g["hours"] for g in gaps),
        "largest": sorted(gaps, key=lambda g: (-g["hours"], -g["start_epoch"]))[:GAPS_SHOWN],
        "latest": gaps[-GAPS_SHOWN:][::-1],
    }


_blocks_cache: weakref.WeakKeyDictionary[Engine, Blocks] = weakref.WeakKeyDictionary()


def blocks(conn: Connection) -> Blocks:
    """The LogEntries epochs, kept per engine and read again only when a block was added: blocks are never
    deleted and their ids only grow, so the highest id (and the first and last epoch) identify the content.
    Every gap, coverage, freshness and block count is then arithmetic on these (a year is 9,000 blocks)."""
    e = log_entries.c
    version = tuple(
        conn.execute(
            select(
                select(func.max(e.id)).scalar_subquery(),
                select(func.min(e.epoch)).scalar_subquery(),
                select(func.max(e.epoch)).scalar_subquery(),
            )
        ).one()
    )
    cached = _blocks_cache.get(conn.engine)
    if cached is None or cached.version != version:
        epochs = np.array(conn.execute(select(e.epoch).order_by(e.epoch)).scalars().all(), dtype=np.int64)
        hours = hour_of(epochs)
        hours = hours[np.r_[True, hours[1:] != hours[:-1]]] if len(hours) else hours
        cached = _blocks_cache[conn.engine] = Blocks(version, epochs, hours)
    return cached


def iso_many(epochs: list[int]) -> list[str]:
    """timefmt.iso_utc for many epochs at once (numpy formats them; strftime costs ~10 us each)."""
    if not epochs:
        return []
    text = np.datetime_as_string(np.array(epochs, dtype="datetime64[s]"), unit="s")
    return [t + "Z" for t in text.tolist()]


def time_buckets(bounds: list[int], coverage: list[int]) -> list[dict[str, Any]]:
    """The buckets [bounds[i], bounds[i + 1]) as the answers list them: start (ISO and epoch), length in hours, and
    how many of its hours have a block (`coverage`, as Blocks.coverage gives it)."""
    times = iso_many(bounds[:-1])
    return [
        {
            "time": times[i],
            "epoch": bounds[i],
            "hours": (bounds[i + 1] - bounds[i]) // HOUR,
            "hours_with_data": coverage[i],
        }
        for i in range(len(bounds) - 1)
    ]


def lost_hours(conn: Connection, first_hour: int, end_hour: int) -> int:
    """Blocks flagged with lost events in the hours [first_hour, end_hour) (a later read can raise the flag of a
    stored block, so it is not kept with the epochs; the partial index ix_entries_lost makes this cheap)."""
    first, end = epoch_bounds(first_hour, end_hour)
    e = log_entries.c
    return conn.execute(
        select(func.count()).select_from(log_entries).where(e.lost_events > 0, e.epoch >= first, e.epoch < end)
    ).scalar_one()


def rejected_in(conn: Connection, first_hour: int | None, end_hour: int | None) -> int:
    """Rejected lines in blocks of the hours [first_hour, end_hour); every rejected line when both are None."""
    query = select(func.count()).select_from(rejected_lines)
    if first_hour is not None and end_hour is not None:
        first, end = epoch_bounds(first_hour, end_hour)
        query = query.where(rejected_lines.c.block_epoch >= first, rejected_lines.c.block_epoch < end)
    return conn.execute(query).scalar_one()


def data_extent(conn: Connection) -> tuple[int, int] | None:
    """[first hour, end hour) of the stored blocks (the hours they report), or None when there is none."""
    first, last = blocks(conn).extent
    return None if first is None or last is None else (hour_of(first), hour_of(last) + HOUR)


def data_version(conn: Connection) -> list:
    """A value that changes whenever an ingest adds a block, completes one or rejects a line, or stores jobs: the
    dashboard polls it and redraws only when it changed. [newest epoch, blocks, newest session id, rejected lines,
    jobs version]."""
    epoch, count = conn.execute(select(func.max(log_entries.c.epoch), func.count())).one()
    session = conn.execute(select(func.max(user_sessions.c.id))).scalar()
    rejected = conn.execute(select(func.max(rejected_lines.c.id))).scalar()
    jobs = conn.execute(select(jobs_state.c.version).where(jobs_state.c.id == 1)).scalar()
    return [epoch, count, session, rejected, jobs]
