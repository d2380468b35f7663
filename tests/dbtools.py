"""Helpers for tests about what a database holds: putting it in a particular state, comparing answers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, delete, insert, select

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


@contextlib.contextmanager
def raw_rows_only(engine: Engine) -> Iterator[None]:
    """The rollups recorded as incomplete (as while they are rebuilt) for the duration, then as they were: every
    question reads the raw rows meanwhile, the reference the rollups' answers must equal."""
    with write_transaction(engine) as conn:
        state = [row._asdict() for row in conn.execute(select(rollup_state))]
        conn.execute(delete(rollup_state))
    try:
        yield
    finally:
        with write_transaction(engine) as conn:
            conn.execute(insert(rollup_state), state)


def from_rollups_and_raw_rows(engine: Engine, questions: list) -> tuple[list, list]:
    """The answers of question(conn) for each question, from the rollups, then from the raw rows only."""
    with engine.connect() as conn:
        fast = [question(conn) for question in questions]
    with raw_rows_only(engine), engine.connect() as conn:
        slow = [question(conn) for question in questions]
    return fast, slow


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
