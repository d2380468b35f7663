"""One startup path: every entry point prepares the database through db.setup.prepare_database, once, in the zone
its caller gives (the server's display zone; for init, ingest and demo the zone the rollups are in already), and
nothing in db/ reads the zone from the environment."""

from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from clusterdash.cli import cli
from clusterdash.db.engine import make_engine, write_transaction
from clusterdash.db.rollups import rollup_zone
from clusterdash.db.schema import rollup_sizes, rollup_state
from clusterdash.ingest.demo import write_demo_log
from clusterdash.ingest.store import write_blocks
from tests.dbtools import write_as_before_rollups
from tests.logtools import FIXED_START, parse_lines

REBUILDING = "rebuilding the rollups"


def _blocks(days: int, seed: int):
    from clusterdash.ingest.demo import generate_lines

    return [b for b in parse_lines(generate_lines(days=days, seed=seed, start=FIXED_START)) if b.epoch is not None]


def _day_start_offsets(engine) -> set[int]:
    """Seconds past a UTC midnight at which the stored day rollups start: {0} in UTC, {82800} in Zurich in winter."""
    with engine.connect() as conn:
        starts = conn.execute(select(rollup_sizes.c.start).where(rollup_sizes.c.grain == "d").distinct()).scalars()
        return {start % 86400 for start in starts}


def _rebuilds(caplog) -> int:
    count = sum(REBUILDING in r.getMessage() for r in caplog.records)
    caplog.clear()
    return count


@pytest.mark.parametrize("stale", ["layout", "zone"])
def test_create_app_rebuilds_stale_rollups_once_and_the_next_start_not_at_all(db_url, stale, caplog):
    from clusterdash.web.app import create_app

    caplog.set_level(logging.WARNING, logger="clusterdash")
    engine = make_engine(db_url)
    CliRunner().invoke(cli, ["--db", db_url, "init", "--tz", "UTC"], catch_exceptions=False)
    with write_transaction(engine) as conn:
        write_blocks(conn, _blocks(days=3, seed=2), "io_usage.log")
        if stale == "layout":
            conn.execute(update(rollup_state).values(version=1, zone="Europe/Zurich"))
    assert _rebuilds(caplog) == 0

    app = create_app({"db": db_url, "tz": "Europe/Zurich"})
    assert _rebuilds(caplog) == 1
    with engine.connect() as conn:
        assert rollup_zone(conn) == "Europe/Zurich"
    assert _day_start_offsets(engine) == {82800}  # local midnights of Zurich in winter (the demo starts in March)
    assert app.server.test_client().get("/api/stats").get_json()["blocks"] > 0  # the API is mounted

    create_app({"db": db_url, "tz": "Europe/Zurich"})
    assert _rebuilds(caplog) == 0
    engine.dispose()


def test_init_then_ingest_without_environment_keep_the_zone_given_and_the_server_does_not_rebuild(
    db_url, tmp_path, monkeypatch, caplog
):
    from clusterdash.web.app import create_app

    monkeypatch.delenv("CLUSTERDASH_TZ", raising=False)
    caplog.set_level(logging.WARNING, logger="clusterdash")
    log = tmp_path / "io_usage.log"
    write_demo_log(log, days=3, seed=4, start=FIXED_START)  # winter in Zurich: days start at 23:00 UTC
    runner = CliRunner()
    init = runner.invoke(cli, ["--db", db_url, "init", "--tz", "Europe/Zurich"], catch_exceptions=False)
    assert init.exit_code == 0 and "UserSessions" in init.output
    ingest = runner.invoke(cli, ["--db", db_url, "ingest", str(log)], catch_exceptions=False)
    assert ingest.exit_code == 0, ingest.output
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert rollup_zone(conn) == "Europe/Zurich"
    assert _day_start_offsets(engine) == {82800}

    create_app({"db": db_url, "tz": "Europe/Zurich"})  # prepared by init: nothing to rebuild
    again = runner.invoke(cli, ["--db", db_url, "ingest", "--tz", "UTC", str(log)], catch_exceptions=False)
    assert again.exit_code == 0 and "already stored" in again.output
    with engine.connect() as conn:
        assert rollup_zone(conn) == "Europe/Zurich"  # an ingest leaves the zone to the server
    assert _rebuilds(caplog) == 0
    engine.dispose()


def test_rows_written_without_complete_rollups_wait_for_the_next_start_whatever_the_environment(engine, monkeypatch):
    """An ingest into a database whose rollups are not complete (written by a release without them) adds nothing
    to them and takes no zone from CLUSTERDASH_TZ; the next start rebuilds them in the zone its caller gives."""
    monkeypatch.setenv("CLUSTERDASH_TZ", "Asia/Tokyo")
    blocks = _blocks(days=3, seed=5)
    write_as_before_rollups(engine, blocks[:20], "old.log")
    with write_transaction(engine) as conn:
        write_blocks(conn, blocks[20:], "io_usage.log")
    with engine.connect() as conn:
        assert rollup_zone(conn) is None
        assert conn.execute(select(rollup_sizes.c.start).limit(1)).first() is None  # nothing was added

    from clusterdash.db.setup import prepare_database

    assert prepare_database(engine, "Europe/Zurich", keep_zone=True).zone == "Europe/Zurich"
    assert _day_start_offsets(engine) == {82800}


def test_a_bad_zone_is_a_one_line_error_before_anything_is_written(tmp_path, monkeypatch):
    """Whether from --tz or CLUSTERDASH_TZ (which an ingest once replaced by UTC without a word)."""
    db = tmp_path / "tz.db"
    log = tmp_path / "io_usage.log"
    write_demo_log(log, days=1, seed=1, start=FIXED_START)
    monkeypatch.setenv("CLUSTERDASH_TZ", "Mars/Olympus_Mons")
    for args in (["ingest", str(log)], ["init"], ["demo", "--days", "1", "--out", str(tmp_path / "d.log")]):
        result = CliRunner().invoke(cli, ["--db", str(db), *args])
        assert result.exit_code == 1 and "tz: unknown time zone 'Mars/Olympus_Mons'" in result.output, args
        assert "Traceback" not in result.output
    assert not db.exists()
