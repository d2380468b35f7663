"""`clusterdash jobs ingest` and `clusterdash jobs pull` through click's runner on both backends. The pull runs a
stand-in for Slurm: a `sacct` script placed first on PATH that records how it was called and prints lines of the
sacct corpus (the real program is not on these machines); nothing of clusterdash is replaced."""

from __future__ import annotations

import json
import os
import stat
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from clusterdash.db.engine import make_engine
from clusterdash.db.schema import job_pulls, jobs, rejected_job_lines
from clusterdash.ingest.sacct import FIELDS
from tests.jobtools import H0, HOUR, io_log, sacct_line, write_sacct

CORPUS = Path(__file__).resolve().parent / "data" / "sacct"
ZURICH = "Europe/Zurich"

FAKE_SACCT = """#!/bin/sh
# A stand-in for Slurm's sacct: records its arguments and time settings, prints the prepared output, fails on demand.
printf '%s\\n' "TZ=$TZ SLURM_TIME_FORMAT=$SLURM_TIME_FORMAT" "$@" > "$FAKE_SACCT_LOG"
if [ -n "$FAKE_SACCT_FAIL" ]; then echo "sacct: error: $FAKE_SACCT_FAIL" >&2; exit 1; fi
cat "$FAKE_SACCT_OUTPUT"
"""
FAKE_SSH = """#!/bin/sh
# A stand-in for ssh to the login node: drops the host and runs the rest here.
shift
exec "$@"
"""


@pytest.fixture
def fake_sacct(tmp_path, monkeypatch):
    """A `sacct` (and an `ssh`) first on PATH; returns (output file to fill, log of the last call)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("sacct", FAKE_SACCT), ("ssh", FAKE_SSH)):
        script = bin_dir / name
        script.write_text(text)
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    output, log = tmp_path / "sacct-output.txt", tmp_path / "sacct-call.txt"
    output.write_text("")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SACCT_OUTPUT", str(output))
    monkeypatch.setenv("FAKE_SACCT_LOG", str(log))
    monkeypatch.delenv("FAKE_SACCT_FAIL", raising=False)
    return output, log


def _count(db_url: str, table) -> int:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(table)).scalar()
    finally:
        engine.dispose()


def _local(epoch: int, tz: str = ZURICH) -> str:
    return datetime.fromtimestamp(epoch, ZoneInfo(tz)).strftime("%Y-%m-%dT%H:%M:%S")


def test_jobs_ingest_reads_the_corpus_reports_bad_lines_and_changes_nothing_read_again(run_cli, db_url):
    files = [str(CORPUS / name) for name in ("forms.txt", "header.txt", "bad.txt")]
    first = run_cli("jobs", "ingest", "--sacct-tz", ZURICH, *files)
    assert first.exit_code == 0, first.output
    assert "rejected 24 line(s) (kept in the database, 24 new):" in first.output
    assert f"{CORPUS / 'bad.txt'}:2: 7 fields separated by '|', expected 14" in first.output
    summary = json.loads(run_cli("jobs", "ingest", "--json", "--sacct-tz", ZURICH, *files).output)
    assert summary["jobs"]["new"] == summary["jobs"]["updated"] == 0 and summary["jobs"]["unchanged"] > 0
    assert summary["rejected_lines"] == 24 and summary["rejected_new"] == 0
    assert _count(db_url, rejected_job_lines) == 24
    assert run_cli("jobs", "ingest", "--strict", "--sacct-tz", ZURICH, *files).exit_code == 1
    assert run_cli("jobs", "ingest", "--strict", "--sacct-tz", ZURICH, files[0]).exit_code == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["jobs", "ingest", "/no/such/sacct.txt"], "Error: /no/such/sacct.txt: no such file"),
        (["jobs", "ingest", "/no/such/*.txt"], "Error: /no/such/*.txt: no file matches"),
        (["jobs", "ingest", "--sacct-tz", "Mars/Base", str(CORPUS / "forms.txt")], "unknown time zone 'Mars/Base'"),
    ],
)
def test_jobs_ingest_mistakes_are_one_line(run_cli, args, message):
    result = run_cli(*args)
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output


def test_jobs_pull_runs_sacct_for_the_window_since_the_last_pull_with_an_overlap(run_cli, db_url, fake_sacct):
    output, call = fake_sacct
    output.write_text((CORPUS / "forms.txt").read_text())
    before = int(time.time())
    first = run_cli("jobs", "pull", "--sacct-tz", ZURICH, "--since", "2025-03-12T00:00")
    assert first.exit_code == 0, first.output
    argv = call.read_text().splitlines()
    assert argv[0] == "TZ=Europe/Zurich SLURM_TIME_FORMAT=standard"
    assert argv[1:7] == ["--allusers", "--parsable2", "--noheader", "-X", "--format=" + ",".join(FIELDS), "--starttime"]
    assert argv[7] == "2025-03-12T00:00:00" and argv[8] == "--endtime"
    assert _count(db_url, jobs) > 10 and _count(db_url, job_pulls) == 1

    output.write_text(sacct_line(77, "zoe", "arton01", before - 100, None, now=before) + "\n")
    second = json.loads(run_cli("jobs", "pull", "--json", "--sacct-tz", ZURICH).output)
    window = call.read_text().splitlines()
    # The next window starts an hour before the last one ended (the end is the moment of the pull).
    first_end = datetime.fromisoformat(second["window"]["since"].replace("Z", "+00:00")).timestamp() + HOUR
    assert before <= first_end <= int(time.time())
    assert window[7] == _local(int(first_end) - HOUR)
    assert second["jobs"] == {"new": 1, "updated": 0, "unchanged": 0}
    assert _count(db_url, job_pulls) == 2


def test_jobs_pull_through_a_login_node_command(run_cli, db_url, fake_sacct):
    output, call = fake_sacct
    output.write_text(sacct_line(5, "amy", "n1", H0, H0 + HOUR) + "\n")
    result = run_cli("jobs", "pull", "--sacct", "ssh login1 sacct", "--since", str(H0))
    assert result.exit_code == 0, result.output
    assert call.read_text().startswith("TZ=UTC SLURM_TIME_FORMAT=standard\n--allusers")
    assert (
        "ssh login1 env TZ=UTC SLURM_TIME_FORMAT=standard sacct --allusers"
        in json.loads(run_cli("jobs", "pull", "--json", "--sacct", "ssh login1 sacct").output)["command"]
    )


def test_a_failing_or_missing_sacct_is_one_line_and_stores_nothing(run_cli, db_url, fake_sacct, monkeypatch):
    monkeypatch.setenv("FAKE_SACCT_FAIL", "Unable to connect to slurmdbd")
    failed = run_cli("jobs", "pull")
    assert failed.exit_code == 1
    assert "Error: sacct failed (exit 1): sacct: error: Unable to connect to slurmdbd" in failed.output
    missing = run_cli("jobs", "pull", "--sacct", "/no/such/sacct")
    assert missing.exit_code == 1 and "cannot run '/no/such/sacct'" in missing.output
    assert _count(db_url, job_pulls) == 0


def test_the_first_pull_covers_the_stored_io_log(run_cli, fake_sacct, tmp_path):
    _, call = fake_sacct
    log = io_log(tmp_path / "io.log", {H0: {("rd", "n1", "amy"): {"[4K, 8K)": 5}}})
    assert run_cli("ingest", str(log)).exit_code == 0
    assert run_cli("jobs", "pull").exit_code == 0
    assert call.read_text().splitlines()[7] == _local(H0, "UTC")  # the hour of the first block


def test_pulled_and_ingested_jobs_take_their_io(run_cli, db_url, fake_sacct, tmp_path):
    output, _ = fake_sacct
    log = io_log(tmp_path / "io.log", {H0: {("rd", "n1", "amy"): {"[4K, 8K)": 40}}})
    assert run_cli("ingest", str(log)).exit_code == 0
    output.write_text(sacct_line(5, "amy", "n1", H0 + 900, H0 + HOUR) + "\n")
    pulled = json.loads(run_cli("jobs", "pull", "--json", "--since", str(H0)).output)
    assert pulled["attribution"] == {"sessions": 1, "rows": 1, "operations_attributed": 30}
    sacct = write_sacct(tmp_path / "s.txt", sacct_line(6, "amy", "n1", H0, H0 + 900))
    ingested = json.loads(run_cli("jobs", "ingest", "--json", str(sacct)).output)
    assert ingested["attribution"]["operations_attributed"] == 40
