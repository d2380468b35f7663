"""The ingest's entry points: add what a transaction has just inserted to the rollups, before it commits (the
rollups never lag the rows): add_to_rollups per batch (follow mode), PendingRollups for a transaction of many
batches (a one-shot ingest).

Rows are added only to rollups that are complete in this layout, in their recorded zone. Otherwise (a database
from before the rollups, or one whose state was cleared) they are left alone: the next prepare_database
(db/setup.py, at every entry point's start) rebuilds them from the raw tables, which hold these rows too, and the
queries read the raw tables meanwhile. The ingest never needs to choose a zone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from sqlalchemy import Connection, select

from clusterdash.db import sizes
from clusterdash.db.bulk import in_chunks
from clusterdash.db.rollups.state import file_machine_types, session_keys, stored_state
from clusterdash.db.rollups.summarise import Buckets, DayCells, not_in, summarise_cells
from clusterdash.db.rollups.write import write_rows
from clusterdash.db.schema import rollup_sizes, user_sessions

log = logging.getLogger("clusterdash.rollups")


def add_to_rollups(conn: Connection, new_sessions: np.ndarray, new_rows: np.ndarray) -> None:
    """Add to the rollups what the caller has just inserted: `new_sessions` as an (n, 5) integer array of id,
    epoch, user_id, machine_id, direction (0 rd, 1 wr) and new histogram rows as an (n, 3) array of session_id,
    size_range_id, count, some of which may belong to sessions stored earlier (a block completed by a later read).

    Called at the end of ingest.store.write_blocks, in its transaction. Rollups that are not complete are
    left to the next prepare_database (see the module's docstring)."""
    if not len(new_sessions) and not len(new_rows):
        return
    zone_name = _complete_zone(conn)
    if zone_name is not None:
        rows = new_rows.reshape(-1, 3)
        _add_cells(conn, DayCells.of(*_with_stored_sessions(conn, new_sessions, rows), rows, zone_name), zone_name)


class PendingRollups:
    """The rollups of a transaction that spans several batches of blocks (a one-shot ingest), added once, before
    it commits: a week or month that several batches touch is then upserted once instead of once per batch (a
    third of the rollup rows of a month of log). Each batch is summed to day cells as it comes (DayCells), so
    what waits is smaller than its rows; the parsed blocks are not kept."""

    def __init__(self) -> None:
        self._cells: list[DayCells] = []
        self._zone: str | None = None  # of the rollups, read by the transaction's first batch
        self._checked = False
        self.rows = 0  # histogram rows taken since the last flush (they pace the caller's commits)

    def add(self, conn: Connection, new_sessions: np.ndarray, new_rows: np.ndarray) -> None:
        """Take the new sessions and rows (as for add_to_rollups) the caller has just inserted through `conn`."""
        if not len(new_sessions) and not len(new_rows):
            return
        rows = new_rows.reshape(-1, 3)
        self.rows += len(rows)
        if not self._checked:
            self._zone, self._checked = _complete_zone(conn), True
        if self._zone is not None:
            self._cells.append(DayCells.of(*_with_stored_sessions(conn, new_sessions, rows), rows, self._zone))

    def mark(self) -> tuple[int, int]:
        """Where the pending cells stand, for `restore` (after the caller rolled back the rows added since)."""
        return len(self._cells), self.rows

    def restore(self, mark: tuple[int, int]) -> None:
        cells, rows = mark
        del self._cells[cells:]
        self.rows = rows

    def flush(self, conn: Connection) -> None:
        """Add everything pending to the rollups, in the caller's transaction (the one that wrote the rows)."""
        if self._cells and self._zone is not None:
            # Merged first and the batches' cells let go, so that they are not held while the rollup rows are made.
            cells, self._cells = DayCells.merged(self._cells), []
            _add_cells(conn, cells, self._zone)
        # The state is read again by the next transaction: between two, a server may rebuild them in another zone.
        self._cells, self._zone, self._checked, self.rows = [], None, False, 0


def stored_operations(conn: Connection) -> int:
    """Every operation the database holds, exactly (Python integers): the yearly rows of RollupSizes when the
    rollups are complete (a few dozen rows), else the sessions' totals."""
    state = stored_state(conn)
    if state is not None and state.current:
        query = select(rollup_sizes.c.operations).where(rollup_sizes.c.grain == "y")
    else:
        query = select(user_sessions.c.operations)
    return sum(conn.execute(query).scalars())


def _complete_zone(conn: Connection) -> str | None:
    """The zone of the rollups when rows can be added to them; None (and a log line) when they are not complete."""
    state = stored_state(conn)
    if state is not None and state.current:
        return state.zone
    log.info(
        "the rollups are not complete (%s): the rows are stored without them; the next start of clusterdash "
        "rebuilds them from the rows",
        "never built" if state is None else f"layout {state.version}",
    )
    return None


def _with_stored_sessions(
    conn: Connection, new_sessions: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(sessions, is_new): the new sessions, plus the stored ones that some of `rows` were added to (a block
    completed by a later read); only the new ones count as sessions."""
    sessions = new_sessions.reshape(-1, 5)
    is_new = np.ones(len(sessions), dtype=bool)
    older: Sequence[int] = sorted(set(not_in(rows[:, 0], sessions[:, 0]).tolist()))  # usually none (np.unique
    # would import numpy.ma)
    if older:
        extra = np.concatenate([session_keys(conn, user_sessions.c.id.in_(chunk)) for chunk in in_chunks(older)])
        sessions = np.concatenate([sessions, extra])
        is_new = np.concatenate([is_new, np.zeros(len(extra), dtype=bool)])
    return sessions, is_new


def _add_cells(conn: Connection, cells: DayCells, zone_name: str) -> None:
    """Add day cells (of rows the caller has inserted) to the rollups in `zone_name`, their current zone."""
    types = file_machine_types(conn, zone_name)
    if types is not None:  # else they were rebuilt, these rows among them
        write_rows(conn, summarise_cells(cells, zone_name, Buckets(sizes.stored_weights(conn)), types))
