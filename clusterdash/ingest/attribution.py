"""The IO side of the jobs' attribution: the hours a Loader's transaction added IO to, shared among the stored jobs
before it commits (db/jobs/maintain.share_hours), so that the attribution never lags the rows, like the rollups.

Noted per batch from what prepare_blocks made (the epochs of the new sessions, the stored sessions that gained
rows); a batch rolled back after it was noted only makes an hour be shared again that did not change, which
writes the same rows. Without any stored job, the commit costs one look at JobsState.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import Connection, select

from clusterdash.db.jobs.maintain import Shared, share_hours
from clusterdash.db.jobs.store import longest_job
from clusterdash.db.periods import hour_of
from clusterdash.db.schema import user_sessions
from clusterdash.ingest.store import Prepared


class TouchedHours:
    """The hours of a transaction's new IO (see the module's docstring)."""

    def __init__(self) -> None:
        self.epochs: set[int] = set()
        self.merged_sessions: set[int] = set()  # stored sessions that gained rows (a block completed later)

    def note(self, prepared: Prepared) -> None:
        new = prepared.added.rollup_sessions
        if len(new):
            self.epochs.update(np.unique(new[:, 1]).tolist())
        if prepared.merged is not None:
            self.merged_sessions.update(int(row["id"]) for row in prepared.merged.totals)

    def share(self, conn: Connection) -> Shared:
        """Share the noted hours' IO among the stored jobs, in the caller's transaction; then forget them."""
        epochs, merged = self.epochs, sorted(self.merged_sessions)
        self.epochs, self.merged_sessions = set(), set()
        if (not epochs and not merged) or longest_job(conn) is None:
            return Shared()
        for i in range(0, len(merged), 500):
            query = select(user_sessions.c.epoch).where(user_sessions.c.id.in_(merged[i : i + 500]))
            epochs.update(conn.execute(query).scalars())
        return share_hours(conn, {int(hour_of(epoch)) for epoch in epochs})
