"""The demo's Slurm side: the sacct output written beside the log reads without a bad line, names the log's users
and machines, leaves the IO log as it was, and once ingested holds most of the IO exactly (both backends)."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from clusterdash.db.jobs.check import check_conservation
from clusterdash.db.schema import jobs, jobs_state
from clusterdash.ingest.demo import generate_lines, ingest_demo, start_live, write_demo_log
from clusterdash.ingest.sacct import parse_sacct
from tests.followtools import wait_until
from tests.logtools import FIXED_START, independent_count

ZURICH = "Europe/Zurich"


def test_the_demos_sacct_output_matches_its_log_and_leaves_the_log_as_it_was(tmp_path):
    log, sacct = tmp_path / "io_usage.log", tmp_path / "sacct.txt"
    summary = write_demo_log(log, days=5, seed=2, start=FIXED_START, sacct_path=sacct)
    assert log.read_text() == "".join(generate_lines(days=5, seed=2, start=FIXED_START))  # the IO is the same
    output = parse_sacct(sacct.read_text(), ZURICH)
    assert output.rejected == [] and len(output.jobs) == summary.jobs > 50
    text = log.read_text()
    assert {job.user for job in output.jobs} <= set(_users(text))
    assert {node for job in output.jobs for node in job.nodes} <= set(_machines(text))
    end = int(FIXED_START.timestamp()) + 5 * 86400
    running = [job for job in output.jobs if job.state == "RUNNING"]
    assert running and all(job.end is None and job.start + job.elapsed == end for job in running)
    assert any("_" in job.job_id for job in output.jobs)  # array tasks
    again = tmp_path / "again.txt"
    write_demo_log(tmp_path / "again.log", days=5, seed=2, start=FIXED_START, sacct_path=again)
    assert again.read_text() == sacct.read_text()


def _users(text: str) -> list[str]:
    return [line.split("[", 1)[1].split("(", 1)[0] for line in text.splitlines() if line.startswith("@")]


def _machines(text: str) -> list[str]:
    return [line.split("(", 1)[1].split(",", 1)[0] for line in text.splitlines() if line.startswith("@")]


def test_ingest_demo_fills_the_jobs_and_they_hold_most_of_the_io_exactly(engine, tmp_path):
    heard = []
    report = ingest_demo(engine, tmp_path / "demo" / "io_usage.log", days=3, seed=5, on_jobs=heard.append)
    assert (tmp_path / "demo" / "sacct.txt").exists() and heard[0].stored.new > 20
    with engine.connect() as conn:
        check = check_conservation(conn)
        stored = conn.execute(select(func.count()).select_from(jobs)).scalar()
    assert check.exact, check
    assert stored == heard[0].stored.new
    assert check.stored == independent_count((tmp_path / "demo" / "io_usage.log").read_text())["operations"]["total"]
    assert report.added.rows > 0 and check.attributed > 0.6 * check.stored  # the batch jobs do most of the IO


def test_a_live_demo_pulls_the_jobs_of_each_new_hour(engine, tmp_path):
    path = tmp_path / "io_usage.log"
    ingest_demo(engine, path, days=2, seed=4)

    def version() -> int:
        with engine.connect() as conn:
            return conn.execute(select(jobs_state.c.version)).scalar() or 0

    before, lines = version(), len((tmp_path / "sacct.txt").read_text().splitlines())
    stop = threading.Event()
    thread = start_live(engine, path, 0.05, stop, seed=4)
    try:
        wait_until(lambda: version() >= before + 2, 60, "two hours of jobs pulled")
    finally:
        stop.set()
        thread.join(10)
    assert len((tmp_path / "sacct.txt").read_text().splitlines()) > lines
    with engine.connect() as conn:
        assert check_conservation(conn).exact
