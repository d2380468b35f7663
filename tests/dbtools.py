"""Helpers for tests about what a database holds: putting it in a particular state, comparing answers."""

from __future__ import annotations

from sqlalchemy import delete

from clusterdash.db.engine import write_transaction
from clusterdash.db.schema import rollup_state
from clusterdash.ingest import store


def write_as_before_rollups(engine, blocks, source: str) -> None:
    """Store blocks as a release without rollups did: raw rows only, and no rollup state (that release had none;
    prepare_database now records an empty database's rollups as complete). Without a state the ingest adds
    nothing to the rollups."""
    with write_transaction(engine) as conn:
        conn.execute(delete(rollup_state))
        store.write_blocks(conn, blocks, source)


def rounded(value):
    """`value` (numbers, dicts, lists) with floats to 9 significant digits: sums of the same floats in another
    order (rollups against raw rows) differ in the last bits."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v) for v in value]
    return value
