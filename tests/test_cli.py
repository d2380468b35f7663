"""The `clusterdash` command through click's runner (and once as a real process)."""

import json
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from clusterdash.cli import cli
from tests.logtools import block, independent_count


@pytest.fixture
def run(sqlite_url):
    runner = CliRunner()

    def invoke(*args, db=sqlite_url):
        return runner.invoke(cli, ["--db", db, *args], catch_exceptions=False)

    return invoke


def test_init_is_safe_twice(run):
    first, second = run("init"), run("init")
    assert first.exit_code == second.exit_code == 0
    assert "UserSessions" in first.output and "up to date" in second.output


def test_ingest_summary_stats_and_strict(run, tmp_path):
    good = block(3600, {("rd", "m1", "alice"): {"[1K, 2K)": 5}, ("wr", "m1", "alice"): {"[4K, 8K)": 6}})
    log = tmp_path / "io_usage.log"
    log.write_text(good + "oops\n")
    result = run("ingest", str(log))
    assert result.exit_code == 0
    assert "1 blocks, 2 entries, 2 rows; operations 5 read, 6 written" in result.output
    assert f"{log}:8: unrecognised line" in result.output
    assert run("ingest", "--strict", str(log)).exit_code == 1
    figures = json.loads(run("stats", "--json").output)
    assert figures["operations"] == {"rd": 5, "wr": 6, "total": 11}
    assert figures["rejected_lines"] == 1 and figures["first"] == figures["last"] == "1970-01-01T01:00:00Z"
    for key in ("blocks", "entries", "users", "machines", "operations", "rejected_lines", "first", "last"):
        assert key in figures


def test_stats_json_equals_an_independent_count_of_the_demo(run, tmp_path):
    out = tmp_path / "demo.log"
    assert run("demo", "--days", "2", "--seed", "3", "--out", str(out)).exit_code == 0
    figures = json.loads(run("stats", "--json").output)
    expected = independent_count(out.read_text())
    assert {k: figures[k] for k in expected} == expected


@pytest.mark.parametrize(
    "args, message",
    [
        (["ingest", "/no/such/io_usage.log"], "/no/such/io_usage.log: no such file or directory"),
        (["ingest", "/no/such/*.log"], "no file matches this pattern"),
    ],
)
def test_clear_one_line_errors_for_bad_paths(run, args, message):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    "db, message",
    [
        ("mysql://x/y", "unsupported database 'mysql'"),
        ("postgresql+psycopg://nobody@127.0.0.1:1/none", "connection"),
    ],
)
def test_bad_db_is_one_line_not_a_traceback(db, message):
    result = CliRunner().invoke(cli, ["--db", db, "init"])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_stats_on_an_empty_database_says_what_to_run(run):
    result = run("stats")
    assert result.exit_code == 1 and "clusterdash ingest PATH" in result.output


def test_every_command_has_help_with_an_example():
    for name in cli.commands:
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0 and "Example" in result.output, name


def test_a_bare_path_is_a_sqlite_file_and_the_real_command_runs(tmp_path):
    db = tmp_path / "sub" / "cd.db"
    done = subprocess.run(
        [sys.executable, "-m", "clusterdash", "--db", str(db), "init"], capture_output=True, text=True
    )
    assert done.returncode == 0 and db.exists(), done.stderr


@pytest.mark.parametrize("command", [["stats"], ["stats", "--json"], ["serve", "--port", "1"]])
def test_read_only_commands_refuse_a_sqlite_file_that_does_not_exist(tmp_path, command):
    """A mistyped --db path is an error, not an empty database created on the way (nor its directory)."""
    typo = tmp_path / "nowhere" / "typo.db"
    done = subprocess.run(
        [sys.executable, "-m", "clusterdash", "--db", str(typo), *command], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"Error: no such database: {typo} (run `clusterdash init`" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not typo.parent.exists()


def test_stats_shows_the_gaps_and_the_data_age(run, tmp_path):
    hours = [1, 2, 5, 6, 7, 12]  # gaps: hours 3-4 (2 h) and 8-11 (4 h)
    log = tmp_path / "io_usage.log"
    log.write_text("".join(block(h * 3600 + 15, {("rd", "m1", "alice"): {"[1K, 2K)": h}}) for h in hours))
    assert run("ingest", str(log)).exit_code == 0
    before = time.time()
    figures = json.loads(run("stats", "--json").output)
    after = time.time()
    assert [(g["start_epoch"], g["hours"]) for g in figures["gaps"]] == [(2 * 3600, 2), (7 * 3600, 4)]
    gaps = figures["gap_summary"]
    assert (gaps["count"], gaps["hours"]) == (2, 6)
    assert [(g["start_epoch"], g["hours"]) for g in gaps["largest"]] == [(7 * 3600, 4), (2 * 3600, 2)]
    assert [(g["start"], g["end"]) for g in gaps["latest"]] == [
        ("1970-01-01T07:00:00Z", "1970-01-01T11:00:00Z"),
        ("1970-01-01T02:00:00Z", "1970-01-01T04:00:00Z"),
    ]
    fresh = figures["freshness"]
    assert fresh["last_block_epoch"] == 12 * 3600 + 15 and fresh["last_block"] == "1970-01-01T12:00:15Z"
    assert int(before) - 12 * 3600 - 15 <= fresh["age_seconds"] <= int(after) - 12 * 3600 - 15
    text = run("stats").output
    assert "gaps:              2 (6 hours without a block)" in text
    assert "largest: 1970-01-01T07:00:00Z .. 1970-01-01T11:00:00Z (4 h), 1970-01-01T02:00:00Z" in text
    assert "data age:" in text and "(newest block 1970-01-01T12:00:15Z)" in text


def test_durations_are_shown_in_their_two_largest_units():
    from clusterdash.cli import _duration

    assert [_duration(s) for s in (0, 42, 3700, 90061)] == ["0 s", "42 s", "1 h 1 min", "1 d 1 h"]
