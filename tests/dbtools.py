"""Helpers for tests about what a database holds: putting it in a particular state (a demo, the CLI on it, a
release before rollups), comparing answers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, delete, insert, select

from clusterdash.db.engine import write_transaction
from clusterdash.db.schema import log_entries, rollup_state
from clusterdash.ingest import store
from tests.logtools import FIXED_START

DEMO_ZONE = "Europe/Zurich"  # the demo app's display zone, so its rollups' zone
DEMO_DAYS = 40


def cli_runner(url: str):
    """`invoke(*args)`: the clusterdash command with --db `url` through click's runner; a bug raises."""
    from click.testing import CliRunner

    from clusterdash.cli import cli

    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, ["--db", url, *args], catch_exceptions=False)

    return invoke


def build_demo_database(url: str, folder: Path, days: int = DEMO_DAYS, seed: int = 11) -> None:
    """`days` of demo log from FIXED_START and its batch jobs' sacct output, written to `folder` and ingested by
    `clusterdash ingest` and `clusterdash jobs ingest`."""
    from clusterdash.ingest.demo import write_demo_log

    log, sacct = folder / "io_usage.log", folder / "sacct.txt"
    write_demo_log(log, days=days, seed=seed, start=FIXED_START, sacct_path=sacct)
    result = cli_runner(url)("ingest", str(log))
    assert result.exit_code == 0, result.output
    result = cli_runner(url)("jobs", "ingest", "--sacct-tz", DEMO_ZONE, str(sacct))
    assert result.exit_code == 0, result.output


def write_as_before_rollups(engine, blocks, source: str) -> None:
    """Store blocks as a release without rollups did: raw rows only, and no rollup state (that release had none;
    prepare_database now records an empty database's rollups as complete). Without a state the ingest adds
    nothing to the rollups."""
    with write_transaction(engine) as conn:
        conn.execute(delete(rollup_state))
        store.write_blocks(conn, blocks, source)


def store_an_unshowable_block(engine) -> None:
    """Store, past the loader, a block stamped in the year 31,690,708: data no code path expects (no date can show
    it), so whatever reads it fails the way a bug does."""
    with write_transaction(engine) as conn:
        conn.execute(
            insert(log_entries).values(id=1, epoch=10**15, wallclock="-", lost_events=0, digest="-", ingested_at=0)
        )


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
