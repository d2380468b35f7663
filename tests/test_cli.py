"""The `clusterdash` command through click's runner on both backends (and as a real process where the entry point's
own handling is the point): its output, and its errors (one line for what the user can fix, a bug shown as one)."""

import json
import os
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from clusterdash.cli import cli
from tests.dbtools import store_an_unshowable_block
from tests.logtools import block, independent_count


def clusterdash(*args: str, debug: bool = False) -> subprocess.CompletedProcess:
    """The real command in a process of its own (the entry point, main, is what turns a bug into one line)."""
    env = {k: v for k, v in os.environ.items() if k != "CLUSTERDASH_DEBUG"} | (
        {"CLUSTERDASH_DEBUG": "1"} if debug else {}
    )
    return subprocess.run([sys.executable, "-m", "clusterdash", *args], capture_output=True, text=True, env=env)


def test_init_is_safe_twice(run_cli):
    first, second = run_cli("init"), run_cli("init")
    assert first.exit_code == second.exit_code == 0
    assert "UserSessions" in first.output and "up to date" in second.output


def test_ingest_summary_stats_and_strict(run_cli, tmp_path):
    good = block(3600, {("rd", "m1", "alice"): {"[1K, 2K)": 5}, ("wr", "m1", "alice"): {"[4K, 8K)": 6}})
    log = tmp_path / "io_usage.log"
    log.write_text(good + "oops\n")
    result = run_cli("ingest", str(log))
    assert result.exit_code == 0
    assert "1 blocks, 2 entries, 2 rows; operations 5 read, 6 written" in result.output
    assert f"{log}:8: unrecognised line" in result.output
    assert run_cli("ingest", "--strict", str(log)).exit_code == 1
    figures = json.loads(run_cli("stats", "--json").output)
    assert figures["operations"] == {"rd": 5, "wr": 6, "total": 11}
    assert figures["rejected_lines"] == 1 and figures["first"] == figures["last"] == "1970-01-01T01:00:00Z"
    for key in ("blocks", "entries", "users", "machines", "operations", "rejected_lines", "first", "last"):
        assert key in figures


def test_stats_json_equals_an_independent_count_of_the_demo(run_cli, tmp_path):
    out = tmp_path / "demo.log"
    assert run_cli("demo", "--days", "2", "--seed", "3", "--out", str(out)).exit_code == 0
    figures = json.loads(run_cli("stats", "--json").output)
    expected = independent_count(out.read_text())
    assert {k: figures[k] for k in expected} == expected


@pytest.mark.parametrize(
    "args, message",
    [
        (["ingest", "/no/such/io_usage.log"], "/no/such/io_usage.log: no such file or directory"),
        (["ingest", "/no/such/*.log"], "no file matches this pattern"),
    ],
)
def test_clear_one_line_errors_for_bad_paths(run_cli, args, message):
    result = run_cli(*args)
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


def test_stats_on_an_empty_database_says_what_to_run(run_cli):
    result = run_cli("stats")
    assert result.exit_code == 1 and "clusterdash ingest PATH" in result.output


def test_every_command_has_help_with_an_example():
    for name, command in cli.commands.items():
        for path in [[name]] + [[name, sub] for sub in getattr(command, "commands", {})]:  # a group's commands too
            result = CliRunner().invoke(cli, [*path, "--help"])
            assert result.exit_code == 0 and "Example" in result.output, path


def test_a_bare_path_is_a_sqlite_file_and_the_real_command_runs(tmp_path):
    db = tmp_path / "sub" / "cd.db"
    done = clusterdash("--db", str(db), "init")
    assert done.returncode == 0 and db.exists(), done.stderr


def _rename_a_column(engine):
    with engine.begin() as conn:
        conn.execute(text('ALTER TABLE "LogEntries" RENAME COLUMN lost_events TO lost'))


@pytest.mark.parametrize(
    "damage, kind", [(store_an_unshowable_block, "ValueError"), (_rename_a_column, "ProgrammingError|OperationalError")]
)
def test_a_bug_is_one_line_saying_so_and_a_traceback_with_debug(engine, db_url, damage, kind):
    """Data no code path expects, or a schema that is not clusterdash's: a bug, not a user's mistake. It is not
    dressed up as one (before: any ValueError or database error was a one-line 'Error: <message>')."""
    damage(engine)
    plain = clusterdash("--db", db_url, "stats")
    assert plain.returncode == 1 and "Traceback" not in plain.stderr, plain.stderr
    (line,) = plain.stderr.strip().splitlines()
    assert line.startswith("Error: unexpected ") and line.endswith(" (set CLUSTERDASH_DEBUG=1 for details)"), line
    assert line.split()[2].rstrip(":") in kind.split("|"), line
    debug = clusterdash("--db", db_url, "stats", debug=True)
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr


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


def test_stats_shows_the_gaps_and_the_data_age(run_cli, tmp_path):
    hours = [1, 2, 5, 6, 7, 12]  # gaps: hours 3-4 (2 h) and 8-11 (4 h)
    log = tmp_path / "io_usage.log"
    log.write_text("".join(block(h * 3600 + 15, {("rd", "m1", "alice"): {"[1K, 2K)": h}}) for h in hours))
    assert run_cli("ingest", str(log)).exit_code == 0
    before = time.time()
    figures = json.loads(run_cli("stats", "--json").output)
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
    text = run_cli("stats").output
    assert "gaps:              2 (6 hours without a block)" in text
    assert "largest: 1970-01-01T07:00:00Z .. 1970-01-01T11:00:00Z (4 h), 1970-01-01T02:00:00Z" in text
    assert "data age:" in text and "(newest block 1970-01-01T12:00:15Z)" in text


def test_durations_are_shown_in_their_two_largest_units():
    from clusterdash.cli.data import _duration

    assert [_duration(s) for s in (0, 42, 3700, 90061)] == ["0 s", "42 s", "1 h 1 min", "1 d 1 h"]
