"""Loading into a real database (SQLite file and PostgreSQL server): idempotence, overlap, merge, history."""

import gzip
import random
import shutil
import subprocess
import sys

from sqlalchemy import func, inspect, select

from clusterdash.db.engine import make_engine
from clusterdash.db.query import database_stats
from clusterdash.db.schema import io_size_ranges, machines, rejected_lines, user_sessions, users
from clusterdash.ingest.demo import generate_lines
from clusterdash.ingest.pipeline import ingest_paths
from tests.followtools import REPO, reference
from tests.followtools import every_count as whole_content
from tests.logtools import FIXED_START, block, independent_count, row


def stats(engine):
    with engine.connect() as conn:
        return database_stats(conn, now=0)  # a fixed time: the figures compare equal from call to call


def every_count(engine):
    """The database's whole content, as the follow tests compare it (tests/followtools.every_count)."""
    return whole_content(engine.url.render_as_string(hide_password=False))


def write(path, text):
    path.write_text(text)
    return str(path)


DEMO = "".join(generate_lines(days=3, seed=5, start=FIXED_START))


def test_ingest_equals_an_independent_count_and_twice_changes_nothing(engine, tmp_path):
    log = write(tmp_path / "io_usage.log", DEMO)
    first = ingest_paths(engine, [log], progress=False)
    expected = independent_count(DEMO)
    got = stats(engine)
    assert {k: got[k] for k in ("blocks", "entries", "operations", "rows")} == expected
    assert got["rejected_lines"] == 0 and first.added.blocks_new == expected["blocks"]
    before = every_count(engine)
    second = ingest_paths(engine, [log], progress=False)
    assert second.added.blocks_new == second.added.rows == 0
    assert second.added.blocks_unchanged == expected["blocks"]
    assert every_count(engine) == before and stats(engine) == got


def test_overlapping_files_count_once(engine, tmp_path):
    lines = DEMO.splitlines(True)
    cut_a, cut_b = len(lines) // 3, 2 * len(lines) // 3
    rotated = write(tmp_path / "io_usage.log.1", "".join(lines[:cut_b]))  # older hours, up to two thirds
    live = write(tmp_path / "io_usage.log", "".join(lines[cut_a:]))  # overlaps the middle third
    ingest_paths(engine, [rotated, live], progress=False)
    reference = independent_count(DEMO)
    assert {k: stats(engine)[k] for k in ("blocks", "entries", "operations")} == {
        k: reference[k] for k in ("blocks", "entries", "operations")
    }


def test_gzip_rotations_are_read_and_count_once(engine, tmp_path):
    plain = write(tmp_path / "io_usage.log", DEMO)
    with open(plain, "rb") as src, gzip.open(tmp_path / "io_usage.log.2.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    report = ingest_paths(engine, [str(tmp_path)], progress=False)
    assert [p.path.rsplit("/", 1)[1] for p in report.files] == ["io_usage.log.2.gz", "io_usage.log"]
    assert stats(engine)["operations"] == independent_count(DEMO)["operations"]


def test_a_half_read_block_is_completed_by_a_later_read(engine, tmp_path):
    full = block(100, {("rd", "m1", "alice"): {"[1K, 2K)": 5, "[4K, 8K)": 6}, ("wr", "m2", "bob"): {"[1M, 2M)": 7}})
    half = full.split("@wr_client")[0]  # the writer had not finished the hour yet
    ingest_paths(engine, [write(tmp_path / "a.log", half)], progress=False)
    assert stats(engine)["operations"]["total"] == 11
    report = ingest_paths(engine, [write(tmp_path / "b.log", full)], progress=False)
    assert report.added.blocks_merged == 1
    assert stats(engine)["operations"] == {"rd": 11, "wr": 7, "total": 18}
    with engine.connect() as conn:  # the session totals rollup follows the merged rows
        assert conn.execute(select(func.sum(user_sessions.c.operations))).scalar() == 18


def test_a_stored_row_keeps_its_first_count(engine, tmp_path):
    ingest_paths(engine, [write(tmp_path / "a.log", block(100, {("rd", "m", "u"): {"[2, 4)": 1}}))], progress=False)
    ingest_paths(
        engine, [write(tmp_path / "b.log", block(100, {("rd", "m", "u"): {"[2, 4)": 9, "[4, 8)": 2}}))], progress=False
    )
    assert stats(engine)["operations"]["rd"] == 3


def test_latest_role_wins_whatever_the_ingest_order(engine, tmp_path):
    def hour(epoch, status):
        return f"Log: t ({epoch})\n@rd_client(m,tik)[carol({status})]:\n{row('[2, 4)', 1)}\n\n"

    ingest_paths(engine, [write(tmp_path / "new.log", hour(7200, "staff/itet"))], progress=False)
    ingest_paths(engine, [write(tmp_path / "old.log", hour(3600, "stud/tik"))], progress=False)
    with engine.connect() as conn:
        carol = conn.execute(select(users).where(users.c.username == "carol")).one()
    assert (carol.role, carol.affiliation, carol.first_seen, carol.last_seen) == ("staff", "itet", 3600, 7200)


def test_rejected_lines_are_kept_with_file_and_line_and_count_once(engine, tmp_path):
    text = block(100, {("rd", "m", "u"): {"[2, 4)": 1}}) + "this is not a log line\n"
    log = write(tmp_path / "io_usage.log", text)
    report = ingest_paths(engine, [log], progress=False)
    assert [(r[0], r[1]) for r in report.rejected] == [(log, 5)]
    ingest_paths(engine, [write(tmp_path / "copy.log", text)], progress=False)  # the same block, another file
    with engine.connect() as conn:
        kept = conn.execute(select(rejected_lines)).all()
    assert [(r.source, r.line_number, r.text, r.block_epoch) for r in kept] == [(log, 5, "this is not a log line", 100)]
    assert stats(engine)["operations"]["rd"] == 1


def test_a_first_ingest_leaves_the_session_indexes_in_place(engine, tmp_path):
    """The bulk load drops UserSessions' secondary indexes on SQLite and builds them again before it commits."""
    ingest_paths(engine, [write(tmp_path / "io_usage.log", DEMO)], progress=False)
    names = {index["name"] for index in inspect(engine).get_indexes(user_sessions.name)}
    assert {index.name for index in user_sessions.indexes} <= names
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


def test_killed_inside_a_bulk_load_the_database_keeps_its_indexes_and_a_rerun_completes_it(sqlite_url, tmp_path):
    text = "".join(
        generate_lines(days=40, seed=7, start=FIXED_START)
    )  # ~160k rows: the first transaction runs for most of it
    log = write(tmp_path / "io_usage.log", text)
    process = subprocess.Popen(
        [sys.executable, "-m", "clusterdash", "--db", sqlite_url, "ingest", "--verbose", "--no-progress", log],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    try:
        for line in process.stderr:  # waits for the ingest to say it (or to end without saying it)
            if "dropped until the commit" in line:
                break
        else:
            raise AssertionError("the ingest never dropped its indexes for the bulk load")
    finally:
        process.kill()  # SIGKILL, inside the transaction that dropped them (it commits hundreds of ms later)
        process.wait()
        process.stderr.close()
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            assert conn.execute(select(func.count()).select_from(user_sessions)).scalar() == 0  # nothing half kept
        assert {index.name for index in user_sessions.indexes} <= {
            index["name"] for index in inspect(engine).get_indexes(user_sessions.name)
        }
        ingest_paths(engine, [log], progress=False)
    finally:
        engine.dispose()
    assert whole_content(sqlite_url) == reference(tmp_path, text)


def test_users_and_machines_keep_their_latest_status_over_the_batches_of_one_transaction(engine, tmp_path):
    """300 hours: three batches of blocks written in one transaction, which reads users and machines once and
    updates them at its commit; statuses and types change from batch to batch."""
    rng = random.Random(11)
    text, seen_users, seen_machines = [], {}, {}
    for i in range(300):
        epoch = 3600 * (i + 1)
        text.append(f"Log: t ({epoch})\n")
        for user in rng.sample(["ann", "bob", "cid", "dan"], 2):
            machine = rng.choice(["m1", "m2", "m3"])
            machine_type = ["tik", "itet"][(i // 100 + int(machine[1])) % 2]  # one type per machine per 100 hours
            status = rng.choice(["staff/itet", "stud/tik", "guest/dfm"])
            text.append(f"@rd_client({machine},{machine_type})[{user}({status})]:\n{row('[2, 4)', 1 + i)}\n")
            first = seen_users.get(user, (epoch,))[0]
            seen_users[user] = (first, epoch, *status.split("/"))
            seen_machines[machine] = (seen_machines.get(machine, (epoch,))[0], epoch, machine_type)
        text.append("\n")
    report = ingest_paths(engine, [write(tmp_path / "io_usage.log", "".join(text))], progress=False)
    assert report.added.blocks_new == 300
    with engine.connect() as conn:
        got_users = {
            u.username: (u.first_seen, u.last_seen, u.role, u.affiliation) for u in conn.execute(select(users))
        }
        got_machines = {m.name: (m.first_seen, m.last_seen, m.machine_type) for m in conn.execute(select(machines))}
    assert got_users == seen_users and got_machines == seen_machines


def test_a_status_seen_later_is_not_undone_by_an_hour_in_between_read_afterwards(engine, tmp_path):
    """A user's stored status is the one of the latest hour seen, even when an hour between its change and that
    latest hour arrives later with another status; within one hour the last entry's status wins."""

    def hour(epoch, *statuses):
        entries = "".join(
            f"@rd_client(m{i},tik)[carol({status})]:\n{row('[2, 4)', 1)}\n\n" for i, status in enumerate(statuses)
        )
        return f"Log: t ({epoch})\n{entries}"

    ingest_paths(
        engine,
        [
            write(
                tmp_path / "a.log",
                hour(3600, "stud/tik") + hour(7200, "staff/itet") + hour(10800, "guest/dfm", "staff/itet"),
            )
        ],
        progress=False,
    )
    ingest_paths(engine, [write(tmp_path / "b.log", hour(9000, "guest/dfm"))], progress=False)
    with engine.connect() as conn:
        carol = conn.execute(select(users).where(users.c.username == "carol")).one()
    assert (carol.role, carol.affiliation, carol.first_seen, carol.last_seen) == ("staff", "itet", 3600, 10800)


def test_a_rejected_row_adds_no_size_bucket(engine, tmp_path):
    """A row no entry owns is rejected with its line; its bucket label, seen nowhere else, gets no IOSizeRanges
    row (the batch parser codes every label of the batch, the loader resolves only those of stored rows)."""
    text = (
        f"Log: t (3600)\n@rd_client(m,tik)[carol(stud/tik)]:\n{row('[2, 4)', 1)}\n\n{row('[8, 16)', 5)}\n\n"
        f"Log: t (7200)\n@rd_client(m,tik)[carol(stud/tik)]:\n{row('[2, 4)', 2)}\n\n"
        f"Log: t (10800)\n@rd_client(m,tik)[carol(stud/tik)]:\n{row('[2, 4)', 3)}\n\n"
    )
    report = ingest_paths(engine, [write(tmp_path / "io_usage.log", text)], progress=False)
    assert [(line, "outside any entry" in reason) for _, line, _, reason in report.rejected] == [(5, True)]
    with engine.connect() as conn:
        labels = set(conn.execute(select(io_size_ranges.c.label)).scalars())
    assert labels == {"[2, 4)"}
