"""Hostile input through the real ingest, on both backends (the corpus: tests/hostile.py): nothing stops, nothing
overflows, every bad line is reported with its file and line and kept, and names that are merely odd (markup,
formulas) are stored as they are. Counts at the bound add up exactly through the session totals, the rollups,
the query layer and `clusterdash stats`; a block that would take the database's total past 64 bits is refused,
and the blocks around it are stored, by the one-shot ingest and by a real follower process alike."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from clusterdash.cli import cli
from clusterdash.db import query
from clusterdash.db.engine import make_engine, write_transaction
from clusterdash.db.filters import Filters
from clusterdash.db.rollups.summarise import Buckets, DayCells, summarise_cells
from clusterdash.db.schema import log_entries, machines, rejected_lines, rollup_sizes, users
from clusterdash.db.setup import prepare_database
from clusterdash.db.sizes import weights
from clusterdash.db.sums import INT64_MAX, TotalTooLarge
from clusterdash.ingest.parse import MAX_COUNT
from tests.followtools import Follower, append, every_count, reference, wait_until, wait_until_equal
from tests.hostile import FORMULA_NAMES, LONG_USER, MARKUP_NAMES, write_hostile_log
from tests.logtools import block, row


def ingest(url: str, *paths: Path, strict: bool = False):
    args = ["--db", url, "ingest", "--json", *(["--strict"] if strict else []), *map(str, paths)]
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def stats_json(url: str) -> dict:
    result = CliRunner().invoke(cli, ["--db", url, "stats", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def rejected_of(url: str) -> dict[tuple[str, int], str]:
    """(file, line) -> reason of every rejected line stored."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            r = rejected_lines.c
            found = conn.execute(select(r.source, r.line_number, r.reason)).all()
    finally:
        engine.dispose()
    return {(source, line): reason for source, line, reason in found}


def assert_rejected_as_expected(url: str, source: Path, expected: dict[int, str]) -> None:
    got = {line: reason for (path, line), reason in rejected_of(url).items() if path == str(source)}
    assert sorted(got) == sorted(expected)
    wrong = {line: (phrase, got[line]) for line, phrase in expected.items() if phrase not in got[line]}
    assert not wrong, wrong


@pytest.fixture
def other_db_url(db_url, tmp_path, request) -> str:
    """A second fresh database on the same backend as db_url."""
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'other.db'}"
    return request.getfixturevalue("postgres_server").create_database()


def test_the_hostile_corpus_in_one_go(db_url, other_db_url, tmp_path):
    corpus = write_hostile_log(tmp_path / "io_usage.log")
    result = ingest(db_url, corpus.path)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["read"]["rejected_lines"] == summary["added"]["rejected_lines"] == len(corpus.rejected)
    assert summary["added"]["operations"] == corpus.operations and summary["added"]["blocks_refused"] == 0
    small = write_hostile_log(tmp_path / "small.log", many_users=0)
    assert ingest(other_db_url, small.path, strict=True).exit_code == 1  # lines were rejected: said with --strict
    assert stats_json(other_db_url)["rejected_lines"] == len(small.rejected)

    assert_rejected_as_expected(db_url, corpus.path, corpus.rejected)
    figures = stats_json(db_url)
    assert figures["operations"] == {**corpus.operations, "total": sum(corpus.operations.values())}
    assert figures["blocks"] == len(corpus.epochs) and figures["hours_with_lost_events"] == 1
    assert figures["rejected_lines"] == len(corpus.rejected)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            assert set(conn.execute(select(users.c.username)).scalars()) == corpus.users
            assert set(conn.execute(select(machines.c.name)).scalars()) == corpus.machines
            assert sorted(conn.execute(select(log_entries.c.epoch)).scalars()) == corpus.epochs
            roles = set(conn.execute(select(users.c.role)).scalars())
            affiliations = set(conn.execute(select(users.c.affiliation)).scalars())
            types = set(conn.execute(select(machines.c.machine_type)).scalars())
            through_rollups = query.stats(conn, Filters())["operations"]
        assert through_rollups == figures["operations"]
    finally:
        engine.dispose()
    # Markup and formulas are data: stored exactly as written (escaping them is the job of what shows them).
    assert {*MARKUP_NAMES["user"], *FORMULA_NAMES["user"], LONG_USER} <= corpus.users
    assert {*MARKUP_NAMES["role"], *FORMULA_NAMES["role"]} <= roles
    assert {*MARKUP_NAMES["affiliation"], *FORMULA_NAMES["affiliation"]} <= affiliations
    assert {*MARKUP_NAMES["machine"], *FORMULA_NAMES["machine"]} <= corpus.machines
    assert set(MARKUP_NAMES["machine_type"]) <= types
    assert sum(len(name) > 255 for name in corpus.users) == 0


def at_the_bound_log(path: Path, hours: int = 48, people: int = 20) -> tuple[int, int]:
    """Every row at exactly MAX_COUNT: hours x people x 2 directions x 3 buckets, and in hour 10 an entry with a row
    past the bound between two rows at it. Returns (rows stored, line number of the row past the bound)."""
    lines: list[str] = []
    past = 0
    for hour in range(hours):
        lines.append(f"Log: 2025-03-01 {hour % 24:02d}:00:15 ({1740787215 + hour * 3600})")
        for p in range(people):
            for direction in ("rd", "wr"):
                lines.append(f"@{direction}_client(m{p % 4},tik)[user{p:02d}(stud/tik)]:")
                lines += [row(label, MAX_COUNT) for label in ("[4K, 8K)", "[64K, 128K)", "[1M, 2M)")] + [""]
        if hour == 10:
            lines += ["@rd_client(m9,tik)[edge(stud/tik)]:", row("[1K, 2K)", MAX_COUNT), row("[2K, 4K)", MAX_COUNT + 1)]
            past = len(lines)
            lines += [row("[4K, 8K)", MAX_COUNT), ""]
    path.write_text("\n".join(lines) + "\n")
    return hours * people * 2 * 3 + 2, past


def test_counts_at_the_bound_add_up_exactly_everywhere(db_url, tmp_path):
    log = tmp_path / "io_usage.log"
    stored_rows, past_line = at_the_bound_log(log)
    total = stored_rows * MAX_COUNT  # 5,762 rows: 24,746,601,553,590
    result = ingest(db_url, log)
    assert result.exit_code == 0, result.output
    assert_rejected_as_expected(db_url, log, {past_line: "larger than 4,294,967,295"})

    figures = stats_json(db_url)
    assert figures["operations"]["total"] == total and figures["rows"] == stored_rows
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            assert query.stats(conn, Filters())["operations"]["total"] == total  # the rollups
            assert query.size_distribution(conn, Filters())["operations"] == total
            assert sum(u["operations"] for u in query.users_table(conn, Filters())) == total
            assert sum(m["operations"] for m in query.machines_table(conn, Filters())) == total
            year_rows = select(func.sum(rollup_sizes.c.operations)).where(rollup_sizes.c.grain == "y")
            assert int(conn.execute(year_rows).scalar_one()) == total
            edge = query.users_table(conn, Filters(users=("edge",)))
        assert [(u["user"], u["operations"]) for u in edge] == [("edge", 2 * MAX_COUNT)]  # the rest of its entry
    finally:
        engine.dispose()


def test_rollup_sums_are_exact_past_2_to_the_53_and_refused_past_2_to_the_63():
    """The rollups sum in int64, checked: float64 sums (as before) round past 2**53. The values are larger than
    the parser lets through, to reach that far with a few rows; the db layer does not rely on the parser."""
    count = 2**52 + 3  # odd: seven of them add up to a sum a float64 cannot hold exactly
    sessions = np.array([[i + 1, 3600 * (i + 1), 1, 1, 0] for i in range(7)], dtype=np.int64)
    rows = np.array([[i + 1, 1, count] for i in range(7)], dtype=np.int64)
    cells = DayCells.of(sessions, np.ones(7, dtype=bool), rows, "UTC")
    operations: dict[str, list[int]] = {}  # per table, one row per grain (every session is in one day)
    for table, columns in summarise_cells(cells, "UTC", Buckets({1: weights(1024, 2048)}), {1: "tik"}):
        at = [c.name for c in table.columns].index("operations")
        operations.setdefault(table.name, []).extend(columns[at].tolist())
    assert int(float(7 * count)) != 7 * count  # the point of the test
    assert operations["RollupSizes"] == operations["RollupUserUsage"] == [7 * count] * 4  # y, m, w, d
    assert operations["RollupUsage"] == [7 * count] * 3 and operations["RollupPairSizes"] == [7 * count]
    too_many = np.array([[1, 1, 2**62], [2, 1, 2**62]], dtype=np.int64)
    with pytest.raises(TotalTooLarge, match="past 9,223,372,036,854,775,807"):
        DayCells.of(sessions[:2], np.ones(2, dtype=bool), too_many, "UTC")


def seed_total_near_the_limit(url: str, folder: Path, headroom: int) -> None:
    """A database whose total operations are INT64_MAX - headroom, as far as the ingest's check sees it: one block
    of one row, then its yearly rollup row raised (a real database would need 2**31 rows at the bound)."""
    seed = folder / "seed.log"
    seed.write_text(block(3600, {("rd", "m0", "seed"): {"[1K, 2K)": 1}}))
    assert ingest(url, seed).exit_code == 0
    engine = make_engine(url)
    try:
        with write_transaction(engine) as conn:
            raised = conn.execute(
                update(rollup_sizes).where(rollup_sizes.c.grain == "y").values(operations=INT64_MAX - headroom)
            )
            assert raised.rowcount == 1
    finally:
        engine.dispose()


HEADROOM = 2**33  # less than three rows at the bound
GOOD = [block(h * 3600, {("rd", "m1", f"good{h}"): {"[1K, 2K)": h}}) for h in (2, 4, 5)]
TOO_MUCH = block(3 * 3600, {("rd", "m1", "heavy"): dict.fromkeys(("[1K, 2K)", "[2K, 4K)", "[4K, 8K)"), MAX_COUNT)})


def test_a_block_that_would_take_the_total_past_64_bits_is_refused_and_the_others_stored(
    db_url, other_db_url, tmp_path
):
    seed_total_near_the_limit(db_url, tmp_path, HEADROOM)
    log = tmp_path / "io_usage.log"
    log.write_text(GOOD[0] + TOO_MUCH + GOOD[1] + GOOD[2])
    result = ingest(db_url, log)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["added"]["blocks"] == 3 and summary["added"]["blocks_refused"] == 1
    refused_at = GOOD[0].count("\n") + 1
    assert summary["rejected"][0]["file"] == str(log) and summary["rejected"][0]["line"] == refused_at
    lines = {line: reason for (path, line), reason in rejected_of(db_url).items() if path == str(log)}
    assert sorted(lines) == list(range(refused_at, refused_at + 5))  # Log: line, header, three rows
    assert all("past 9,223,372,036,854,775,807" in reason and "block refused" in reason for reason in lines.values())
    figures = stats_json(db_url)
    assert figures["operations"]["total"] == 1 + 2 + 4 + 5  # the seed and the good hours: not a wrong total
    seed_total_near_the_limit(other_db_url, tmp_path, HEADROOM)
    assert ingest(other_db_url, log, strict=True).exit_code == 1  # with --strict, the exit code says so


@pytest.fixture
def scene(db_url, tmp_path):
    log = tmp_path / "logs" / "io_usage.log"
    log.parent.mkdir()
    log.write_bytes(b"")
    # The tables exist before the follower starts, so the checks below never read a database it is still creating.
    engine = make_engine(db_url)
    prepare_database(engine, "UTC")
    engine.dispose()
    followers: list[Follower] = []

    def start() -> Follower:
        followers.append(Follower(db_url, log, tmp_path / "follower.log"))
        return followers[-1]

    yield db_url, log, start
    for follower in followers:
        if follower.process.poll() is None:
            follower.kill()


def test_a_follower_takes_the_hostile_corpus_hour_by_hour_and_goes_on(scene, tmp_path):
    url, log, start = scene
    corpus = write_hostile_log(tmp_path / "corpus.log", seed=3, many_users=20_000)
    follower = start()
    for hour in corpus.blocks:
        append(log, hour)
        follower.check_alive()
    want = reference(tmp_path, corpus.path.read_bytes())
    wait_until_equal(url, want, timeout=90)
    wait_until(lambda: len(rejected_of(url)) == len(corpus.rejected), 30, "every rejected line is stored")
    assert_rejected_as_expected(url, log, corpus.rejected)
    follower.check_alive()
    assert stats_json(url)["operations"] == {**corpus.operations, "total": sum(corpus.operations.values())}
    follower.stop()


def test_a_follower_refuses_a_block_that_fails_inside_and_takes_the_next_hours(scene, tmp_path):
    url, log, start = scene
    seed_total_near_the_limit(url, tmp_path, HEADROOM)
    follower = start()
    append(log, GOOD[0] + TOO_MUCH)
    append(log, GOOD[1])  # completes the refused block: it is taken as soon as this one starts
    follower.wait_for_log(r"refused the block at line \d+ \(epoch 10800\)", timeout=30)
    append(log, GOOD[2])
    want_epochs = [3600, 2 * 3600, 4 * 3600, 5 * 3600]
    wait_until(lambda: sorted(h for h, _ in every_count(url)["hours"]) == want_epochs, 30, "the good hours arrive")
    refused = sorted(line for (path, line), reason in rejected_of(url).items() if "block refused" in reason)
    assert refused == list(range(GOOD[0].count("\n") + 1, GOOD[0].count("\n") + 6))
    follower.check_alive()
    follower.stop()

    # The position moved past it: a new start does not take it again, and takes what comes next.
    again = start()
    append(log, block(6 * 3600, {("rd", "m1", "later"): {"[1K, 2K)": 6}}))
    wait_until(lambda: 6 * 3600 in {h for h, _ in every_count(url)["hours"]}, 30, "the next hour arrives")
    assert "refused" not in again.log()
    again.stop()
