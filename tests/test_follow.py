"""Follow mode, scenario by scenario: the follower runs as a real subprocess on real files that are appended to,
renamed, truncated, replaced and deleted under it. Each scenario ends by comparing the database with a one-shot
ingest of every byte written, into a fresh database: every count by epoch, direction, machine, user and bucket.

SIGSTOP/SIGCONT (Follower.pause/resume) make "while running" scenarios deterministic: the follower keeps its
open files and its state, but cannot look while the files change under it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from clusterdash.cli import cli
from clusterdash.db.engine import make_engine
from clusterdash.db.schema import ingest_files, log_entries
from tests.followtools import (
    REPO,
    Follower,
    append,
    demo_blocks,
    every_count,
    reference,
    split_mid_line,
    text_of,
    wait_until,
    wait_until_equal,
)

B = demo_blocks(4, 21)  # 4 days, about 90 blocks of ~5 KB


class Scene:
    """A log directory, a database, the followers started on them, and every byte written (for the reference)."""

    def __init__(self, tmp_path: Path, url: str) -> None:
        self.tmp = tmp_path
        self.dir = tmp_path / "logs"
        self.dir.mkdir()
        self.path = self.dir / "io_usage.log"
        self.url = url
        self.written = ""
        self.log_file = tmp_path / "follower.log"
        self.followers: list[Follower] = []

    def write(self, text: str, path: Path | None = None) -> None:
        append(path or self.path, text)
        self.written += text

    def start(self, **options) -> Follower:
        follower = Follower(self.url, self.path, self.log_file, **options)
        self.followers.append(follower)
        return follower

    def caught_up(self, timeout: float = 20.0) -> None:
        wait_until_equal(self.url, reference(self.tmp, self.written, name=f"ref{len(self.written)}"), timeout)

    def sibling(self, suffix: str) -> Path:
        return self.dir / (self.path.name + suffix)

    def cleanup(self) -> None:
        for f in self.followers:
            if f.process.poll() is None:
                f.kill()


@pytest.fixture
def scene(tmp_path, sqlite_url, sqlite_engine):  # sqlite_engine: the schema exists before the follower starts
    s = Scene(tmp_path, sqlite_url)
    yield s
    s.cleanup()


def digest_of_hour(url: str, epoch: int) -> str:
    engine = make_engine(url)
    with engine.connect() as conn:
        value = conn.execute(select(log_entries.c.digest).where(log_entries.c.epoch == epoch)).scalar_one()
    engine.dispose()
    return value


def epoch_of(block: str) -> int:
    return int(block[block.index("Log:") :].split("\n", 1)[0].rsplit("(", 1)[1].rstrip(")"))


def ingest_files_rows(url: str):
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(ingest_files)).all()
    engine.dispose()
    return rows


def half_of(block: str) -> tuple[str, str]:
    """The block cut between two entries, as a writer that has not finished the hour leaves it."""
    cut = block.index("\n@", len(block) // 2) + 1
    return block[:cut], block[cut:]


# --- when a block is taken ----------------------------------------------------------------------------------------


def test_a_block_is_taken_when_the_next_one_starts_never_half(scene):
    scene.write(text_of(B[:5]))
    follower = scene.start(settle=60, verbose=True)  # never quiet long enough: only a next Log: line completes
    scene.written = text_of(B[:4])
    scene.caught_up()  # the last block, still open, waits
    first, rest = half_of(B[5])
    append(scene.path, first)
    offset = len(text_of(B[:5]).encode())
    follower.wait_for_log(rf"the block at byte {offset} is not complete yet")  # it has seen the half block
    scene.written = text_of(B[:5])
    scene.caught_up()  # block 4 is complete now; block 5 is not taken
    append(scene.path, rest + B[6])
    scene.written = text_of(B[:6])
    scene.caught_up()
    # The stored digest is that of the first read of the hour: block 5 was first stored whole.
    assert digest_of_hour(scene.url, epoch_of(B[5])) == hashlib.sha1(B[5].encode()).hexdigest()
    follower.stop(signal.SIGINT)


def test_a_quiet_open_block_is_taken_after_settle_and_completed_when_it_grows(scene):
    scene.write(text_of(B[:5]))
    follower = scene.start(settle=0.5)
    scene.caught_up()
    # Half an hour, cut in the middle of a histogram row: only whole lines are taken, so no count is cut short.
    row_cut = B[5].index("|\n", len(B[5]) // 2) - 20
    scene.write(B[5][:row_cut])
    whole_lines = scene.written[: scene.written.rindex("\n") + 1]
    wait_until_equal(scene.url, reference(scene.tmp, whole_lines, "half"))
    scene.write(B[5][row_cut:] + B[6])
    scene.caught_up()
    assert "1 completed" in follower.log()
    follower.stop()


def test_an_appended_block_shows_in_stats_within_3s_with_the_default_poll(scene):
    """The default poll (1 s); a settle of 1 s, since a lone block at the end of the file is complete only
    when the file has been quiet that long (see the report: the declared default settle is 5 s)."""
    scene.write(text_of(B[:5]))
    follower = scene.start(poll=None, settle=1)
    scene.caught_up()

    def hours_in_stats():
        result = CliRunner().invoke(cli, ["--db", scene.url, "stats", "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)["blocks"]

    assert hours_in_stats() == 5
    scene.write(B[5])
    appended = time.monotonic()
    wait_until(lambda: hours_in_stats() == 6, 10, "the new hour shows in clusterdash stats")
    assert time.monotonic() - appended < 3.0
    follower.stop()


def test_rejected_lines_are_logged_and_the_follower_goes_on(scene):
    bad = B[3].replace("\n@", "\nthis line is not log data\n@", 1)
    scene.write(text_of(B[:3]) + bad + text_of(B[4:6]))
    follower = scene.start()
    follower.wait_for_log(
        r"rejected 1 line\(s\) in .*io_usage.log, kept in the database \(first: line \d+: "
        r"unrecognised line"
    )
    scene.caught_up()
    follower.stop()


def test_watchdog_wakes_the_follower_long_before_the_poll(scene):
    scene.write(text_of(B[:5]))
    follower = scene.start(poll=60, settle=0.3)
    scene.caught_up()
    scene.write(text_of(B[5:8]))
    started = time.monotonic()
    scene.caught_up(timeout=30)
    assert time.monotonic() - started < 10  # far below the 60 s poll: a file-system event woke it
    follower.stop()


def test_polling_alone_finds_the_file_when_its_directory_cannot_be_watched(scene):
    shutil.rmtree(scene.dir)  # watchdog cannot watch a directory that does not exist yet
    follower = scene.start(poll=0.2, settle=0.3)
    follower.wait_for_log("polling every 0.2s only")
    scene.dir.mkdir()
    scene.write(text_of(B[:6]))
    scene.caught_up()
    follower.stop()


# --- rotation, replacement, truncation while running ----------------------------------------------------------


def test_logrotate_create_while_running_then_compressed_and_ingested_again(scene):
    scene.write(text_of(B[:5]))
    follower = scene.start()
    scene.caught_up()
    follower.pause()
    scene.write(B[5])
    scene.path.rename(scene.sibling(".1"))  # logrotate create: rename, new file
    scene.write(B[6], scene.sibling(".1"))  # the writer appends to the old file until it reopens
    scene.write(text_of(B[7:9]))  # ... then to the new one
    follower.resume()
    follower.wait_for_log("rotation seen")
    scene.caught_up()
    follower.wait_for_log("finished the old file")

    # Later logrotate compresses the rotated file; an admin ingests it once more: it counts once.
    rotated = scene.sibling(".2.gz")
    with open(scene.sibling(".1"), "rb") as src, gzip.open(rotated, "wb") as dst:
        shutil.copyfileobj(src, dst)
    scene.sibling(".1").unlink()
    subprocess.run(
        [sys.executable, "-m", "clusterdash", "--db", scene.url, "ingest", str(rotated)],
        check=True,
        cwd=REPO,
        capture_output=True,
    )
    scene.write(B[9])
    scene.caught_up()
    follower.stop()


def test_copytruncate_while_running_reads_the_unread_tail_from_the_copy(scene):
    scene.write(text_of(B[:5]))
    follower = scene.start()
    scene.caught_up()
    follower.pause()
    scene.write(text_of(B[5:8]))  # written, then copied away and truncated before the follower looked
    shutil.copyfile(scene.path, scene.sibling(".1"))
    with open(scene.path, "r+b") as f:
        f.truncate(0)
    scene.write(B[8])
    follower.resume()
    log = follower.wait_for_log("reading the rest of the old content from its copy")
    assert "truncation seen" in log
    scene.caught_up()
    follower.stop()


def test_copytruncate_in_the_middle_of_an_hour_joins_the_two_parts(scene):
    scene.write(text_of(B[:5]))
    follower = scene.start()
    scene.caught_up()
    follower.pause()
    first, rest = split_mid_line(B[5])
    scene.write(first)  # the writer is in the middle of a row when logrotate copies and truncates
    shutil.copyfile(scene.path, scene.sibling(".1"))
    with open(scene.path, "r+b") as f:
        f.truncate(0)
    scene.write(rest + text_of(B[6:8]))
    follower.resume()
    follower.wait_for_log("truncation seen")
    scene.caught_up()
    assert "rejected" not in follower.log()
    follower.stop()


def test_rsync_replacement_while_running_resumes_at_the_offset(scene):
    scene.write(text_of(B[:5]))
    follower = scene.start()
    scene.caught_up()
    offset = len(text_of(B[:4]).encode())  # the last block was taken open: the position is at its start
    fresh = scene.dir / ".io_usage.log.rsync-tmp"
    fresh.write_text(text_of(B[:9]))
    os.replace(fresh, scene.path)  # rsync: a new inode with the same bytes and more
    scene.written = text_of(B[:9])
    log = follower.wait_for_log(rf"replacement seen: .* same bytes up to byte {offset}")
    scene.caught_up()
    assert log.count("from byte 0") == 1  # read from the start once, at the very beginning
    follower.stop()


def test_deleted_and_created_again_while_running(scene):
    scene.write(text_of(B[:5]))
    follower = scene.start()
    scene.caught_up()
    scene.path.unlink()
    follower.wait_for_log("is missing")
    scene.write(text_of(B[5:8]))  # a new file under the same name
    follower.wait_for_log("rotation seen")
    scene.caught_up()
    follower.stop()


def test_a_file_missing_for_a_while_loses_nothing_and_resets_nothing(scene):
    scene.write(text_of(B[:5]))
    follower = scene.start()
    scene.caught_up()
    away = scene.dir / ".nfs-blip"
    scene.path.rename(away)  # the name is gone for a while (an NFS blip); the file lives on
    follower.wait_for_log("is missing")
    scene.write(text_of(B[5:7]), away)
    away.rename(scene.path)
    follower.wait_for_log("is back")
    scene.caught_up()
    log = follower.log()
    assert "rotation seen" not in log and "truncation seen" not in log and log.count("from byte 0") == 1
    assert len(ingest_files_rows(scene.url)) == 1
    follower.stop()


# --- while stopped ----------------------------------------------------------------------------------------------


def test_logrotate_create_twice_and_compression_while_stopped(scene):
    scene.write(text_of(B[:5]))
    follower = scene.start()
    scene.caught_up()
    follower.stop()
    scene.write(B[5])
    scene.path.rename(scene.sibling(".1"))
    scene.write(text_of(B[6:8]))  # a new file, rotated in its turn; the first is compressed
    with open(scene.sibling(".1"), "rb") as src, gzip.open(scene.sibling(".2.gz"), "wb") as dst:
        shutil.copyfileobj(src, dst)
    scene.sibling(".1").unlink()
    scene.path.rename(scene.sibling(".1"))
    scene.write(text_of(B[8:10]))
    follower = scene.start()
    log = follower.wait_for_log("rotated while stopped")
    assert "rotation seen while stopped" in log and "io_usage.log.2.gz; reading it on from byte" in log
    scene.caught_up()
    follower.stop()


def test_copytruncate_while_stopped_with_the_file_grown_past_the_old_offset(scene):
    scene.write(text_of(B[:5]))
    follower = scene.start()
    scene.caught_up()
    follower.stop()
    scene.write(text_of(B[5:7]))
    shutil.copyfile(scene.path, scene.sibling(".1"))
    with open(scene.path, "r+b") as f:
        f.truncate(0)
    scene.write(text_of(B[7:20]))  # longer than before: only the fingerprint shows it is other bytes
    assert scene.path.stat().st_size > len(text_of(B[:5]).encode())
    follower = scene.start()
    follower.wait_for_log("truncation or rotation seen while stopped")
    scene.caught_up()
    follower.stop()


def test_rsync_replacement_while_stopped_resumes_at_the_offset(scene):
    scene.write(text_of(B[:5]))
    follower = scene.start()
    scene.caught_up()
    follower.stop()
    fresh = scene.dir / ".io_usage.log.rsync-tmp"
    fresh.write_text(text_of(B[:9]))
    os.replace(fresh, scene.path)
    scene.written = text_of(B[:9])
    follower = scene.start()
    follower.wait_for_log(rf"reading {scene.path} from byte {len(text_of(B[:4]).encode())}")
    scene.caught_up()
    follower.stop()


def test_a_new_file_on_the_same_inode_while_stopped_is_read_from_the_start(scene):
    scene.write(text_of(B[:5]))
    follower = scene.start()
    scene.caught_up()
    follower.stop()
    inode = scene.path.stat().st_ino
    with open(scene.path, "w") as f:  # the same inode, other bytes, more of them than were read
        f.write(text_of(B[5:20]))
    scene.written += text_of(B[5:20])
    assert scene.path.stat().st_ino == inode
    follower = scene.start()
    follower.wait_for_log(rf"reading {scene.path} from byte 0")
    scene.caught_up()
    follower.stop()
    # Deleted and created again while stopped (whether the inode is reused is up to the file system).
    scene.path.unlink()
    scene.write(text_of(B[20:23]))
    follower = scene.start()
    scene.caught_up()
    follower.stop()


def test_a_file_empty_when_last_seen_then_written_and_rotated_while_stopped(scene):
    scene.path.touch()
    follower = scene.start(verbose=True)
    follower.wait_for_log(rf"storing the position in {scene.path}: byte 0")
    follower.stop()
    scene.write(text_of(B[:5]))  # written and rotated away before the follower ever read a byte of it
    scene.path.rename(scene.sibling(".1"))
    scene.write(text_of(B[5:7]))
    follower = scene.start()
    follower.wait_for_log("modified since the last position was saved")
    scene.caught_up()
    follower.stop()


# --- the database, and stopping -----------------------------------------------------------------------------------


def test_a_locked_database_holds_the_follower_back_without_loss(scene):
    scene.write(text_of(B[:5]))
    follower = scene.start(verbose=True)
    scene.caught_up()
    lock = sqlite3.connect(scene.url.removeprefix("sqlite:///"), isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # another writer holds the database
    try:
        scene.write(text_of(B[5:7]))
        # It has read the new blocks and is waiting for the lock to store them with the position after them.
        follower.wait_for_log(rf"storing \d+ block\(s\) from .*byte {len(text_of(B[:6]).encode())}$")
        rows = lock.execute('SELECT "offset" FROM IngestFiles').fetchall()
        assert rows == [(len(text_of(B[:4]).encode()),)]  # the position has not moved
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    scene.caught_up()
    follower.stop()


def test_sigint_and_sigterm_finish_the_transaction_in_hand_and_exit_0(scene):
    long_log = demo_blocks(12, 5)
    scene.write(text_of(long_log))
    follower = scene.start()
    follower.wait_for_log("took 64 block")  # catching up, in batches
    follower.stop(signal.SIGINT)
    [row] = ingest_files_rows(scene.url)
    assert 0 < row.offset < len(scene.written.encode()) - len(long_log[-1].encode())
    # What is stored is exactly the blocks before the stored position: the position went with its rows.
    before = scene.written.encode()[: row.offset].decode()
    assert every_count(scene.url) == reference(scene.tmp, before, "before")
    follower = scene.start()
    scene.caught_up(timeout=60)
    follower.stop(signal.SIGTERM)


def test_a_database_that_goes_away_is_retried_with_backoff_and_nothing_is_lost(tmp_path):
    from clusterdash.db.setup import prepare_database
    from tests.followtools import PausablePostgres

    postgres = PausablePostgres()
    scene = Scene(tmp_path, postgres.server.create_database())
    try:
        engine = make_engine(scene.url)
        prepare_database(engine, "UTC")
        engine.dispose()
        scene.write(text_of(B[:5]))
        follower = scene.start()
        scene.caught_up()
        postgres.pause()
        scene.write(text_of(B[5:8]))
        log = follower.wait_for_log("database unavailable while storing blocks", count=2)
        assert "retrying in 0.5s" in log and "retrying in 1s" in log  # it backs off
        postgres.resume()
        scene.caught_up(timeout=30)
        follower.stop()
    finally:
        scene.cleanup()
        postgres.stop()


def test_the_follower_thread_for_serve_stops_when_asked(tmp_path, sqlite_url, sqlite_engine):
    import threading

    from clusterdash.ingest.follow import start_follower_thread

    scene = Scene(tmp_path, sqlite_url)
    scene.write(text_of(B[:5]))
    stop = threading.Event()
    thread = start_follower_thread(sqlite_engine, str(scene.path), {"poll": 0.1, "settle": 0.3}, stop)
    scene.caught_up()
    scene.write(text_of(B[5:7]))
    scene.caught_up()
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
