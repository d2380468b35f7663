"""Helpers for tests that need a database in a particular state."""

from __future__ import annotations

import pytest
from sqlalchemy import delete

from clusterdash.db.engine import write_transaction
from clusterdash.db.schema import rollup_state
from clusterdash.ingest import load


def write_as_before_rollups(engine, blocks, source: str) -> None:
    """Store blocks as a release without rollups did: raw rows only, and no rollup state (that release had none;
    `init` now records an empty database's rollups as complete)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(load, "add_to_rollups", lambda *args, **kwargs: None)
        with write_transaction(engine) as conn:
            load.write_blocks(conn, blocks, source)
            conn.execute(delete(rollup_state))
