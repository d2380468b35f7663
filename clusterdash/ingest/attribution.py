"""The IO side of the jobs' attribution: the hours a Loader's transaction added IO to, shared among the stored jobs
before it commits (db/jobs/maintain.share_hours), so that the attribution never lags the rows, like the rollups.

Noted per batch once it is stored, from what prepare_blocks made: the first and last epoch of its new sessions,
their rows (shared as stored, not read back, unless a later batch completed them) and the stored sessions that
gained rows. Without any stored job, the commit costs one look at JobsState.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from clusterdash.db.bulk import in_chunks
from clusterdash.db.jobs.maintain import Sessions, Shared, share_hours
from clusterdash.db.jobs.store import longest_job
from clusterdash.db.periods import HOUR, hour_of
from clusterdash.db.schema import user_sessions
from clusterdash.ingest.sessions import SESSION_COLUMNS
from clusterdash.ingest.store import Prepared

# The rows the ingest inserts are what Sessions.of reads: UserSessions' columns, in order.
assert tuple(column.name for column in user_sessions.columns) == SESSION_COLUMNS


class TouchedHours:
    """The hours of a transaction's new IO (see the module's docstring)."""

    def __init__(self) -> None:
        self.spans: list[tuple[int, int]] = []  # [first, last] block epochs of each batch's new sessions
        self.merged_sessions: set[int] = set()  # stored sessions that gained rows (a block completed later)
        self.sessions: list[list[tuple]] = []  # the new sessions' rows, as stored: not read back to be shared

    def note(self, prepared: Prepared) -> None:
        """Note a batch once it is stored (not before: a batch refused in its savepoint leaves nothing)."""
        new = prepared.added.rollup_sessions
        if len(new):  # a batch's blocks are consecutive hours, mostly: its first and last suffice
            self.spans.append((int(new[:, 1].min()), int(new[:, 1].max())))
            self.sessions.append(prepared.added.sessions)
        if prepared.merged is not None:
            self.merged_sessions.update(int(row["id"]) for row in prepared.merged.totals)

    def share(self, conn: Connection) -> Shared:
        """Share the noted hours' IO among the stored jobs, in the caller's transaction; then forget them."""
        spans, merged, rows = self.spans, sorted(self.merged_sessions), self.sessions
        self.spans, self.merged_sessions, self.sessions = [], set(), []
        if (not spans and not merged) or longest_job(conn) is None:
            return Shared()
        for chunk in in_chunks(merged):
            query = select(user_sessions.c.epoch).where(user_sessions.c.id.in_(chunk))
            spans.extend((epoch, epoch) for epoch in conn.execute(query).scalars())
        # A session a later batch completed (merged rows into) holds more than the batch that added it stored:
        # left out of the known ones, its box reads what is stored.
        known = Sessions.of(row for part in rows for row in part).without(merged)
        return share_hours(conn, [(int(hour_of(first)), int(hour_of(last)) + HOUR) for first, last in spans], known)
