"""One-shot ingest reads on from the stored position of a file it has read before, when the file still holds the
bytes read then; otherwise from the start. Real files, real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import gzip
import os
import re
import shutil

from sqlalchemy import select

from clusterdash.db.schema import ingest_files
from clusterdash.ingest.pipeline import ingest_paths
from tests.followtools import demo_blocks, every_count, reference, split_mid_line, text_of

BLOCKS = demo_blocks(3, 11)


def ingest(engine, *paths):
    return ingest_paths(engine, [str(p) for p in paths], progress=False)


def positions(engine):
    with engine.connect() as conn:
        return conn.execute(select(ingest_files).order_by(ingest_files.c.id)).all()


def test_an_appended_hour_is_read_from_the_stored_position(engine, db_url, tmp_path):
    log = tmp_path / "io_usage.log"
    log.write_text(text_of(BLOCKS[:-1]))
    first = ingest(engine, log).files[0]
    assert first.resumed_at == 0 and first.blocks == len(BLOCKS) - 1
    [row] = positions(engine)
    last_block_start = len(text_of(BLOCKS[:-2]).encode())
    # The last block was taken at end of file, but the position stays at its start: it may not be complete.
    assert (row.offset, row.blocks_before) == (last_block_start, len(BLOCKS) - 2)

    with open(log, "a") as f:
        f.write(BLOCKS[-1])
    second = ingest(engine, log)
    assert second.files[0].resumed_at == last_block_start
    assert second.files[0].blocks == 2  # the block that was last, now complete, and the new one
    assert second.added.blocks_new == 1 and second.added.blocks_unchanged == len(BLOCKS) - 1
    assert every_count(db_url) == reference(tmp_path, text_of(BLOCKS))


def test_a_half_written_last_block_is_completed_by_the_next_read(engine, db_url, tmp_path):
    log = tmp_path / "io_usage.log"
    last = BLOCKS[10]
    half = last[: last.index("\n@", len(last) // 2) + 1]  # cut between two entries
    log.write_text(text_of(BLOCKS[:10]) + half)
    ingest(engine, log)
    with open(log, "a") as f:
        f.write(last[len(half) :] + BLOCKS[11])
    report = ingest(engine, log)
    assert report.added.blocks_merged == 1 and report.added.blocks_new == 1
    assert every_count(db_url) == reference(tmp_path, text_of(BLOCKS[:12]))


def test_a_file_rewritten_in_place_is_read_from_the_start(engine, db_url, tmp_path):
    """Same inode, new content longer than the stored offset: only the fingerprint tells the files apart."""
    log = tmp_path / "io_usage.log"
    log.write_text(text_of(BLOCKS[:5]))
    ingest(engine, log)
    inode = log.stat().st_ino
    with open(log, "w") as f:  # truncates and rewrites the same inode
        f.write(text_of(BLOCKS[20:40]))
    assert log.stat().st_ino == inode
    report = ingest(engine, log)
    assert report.files[0].resumed_at == 0 and report.added.blocks_new == 20
    assert len(positions(engine)) == 1  # the old content's row now describes the new content
    assert every_count(db_url) == reference(tmp_path, text_of(BLOCKS[:5]) + text_of(BLOCKS[20:40]))


def test_a_truncated_file_is_read_from_the_start(engine, db_url, tmp_path):
    log = tmp_path / "io_usage.log"
    log.write_text(text_of(BLOCKS[:30]))
    ingest(engine, log)
    log.write_text(BLOCKS[30])
    report = ingest(engine, log)
    assert report.files[0].resumed_at == 0 and report.added.blocks_new == 1
    assert every_count(db_url) == reference(tmp_path, text_of(BLOCKS[:31]))


def test_a_replacement_with_the_same_prefix_resumes_and_a_copy_gets_its_own_row(engine, db_url, tmp_path):
    log = tmp_path / "io_usage.log"
    log.write_text(text_of(BLOCKS[:20]))
    ingest(engine, log)
    offset = positions(engine)[0].offset
    fresh = tmp_path / "io_usage.log.tmp"
    fresh.write_text(text_of(BLOCKS[:25]))
    os.replace(fresh, log)  # what rsync does: a new inode under the old name
    report = ingest(engine, log)
    assert report.files[0].resumed_at == offset and report.added.blocks_new == 5
    [row] = positions(engine)
    assert row.inode == log.stat().st_ino

    copy = tmp_path / "elsewhere.log"
    shutil.copy(log, copy)
    report = ingest(engine, copy)
    assert report.files[0].resumed_at == positions(engine)[0].offset and report.added.blocks_new == 0
    assert [r.path for r in positions(engine)] == [str(log), str(copy)]
    assert every_count(db_url) == reference(tmp_path, text_of(BLOCKS[:25]))


def test_a_compressed_rotated_copy_is_read_on_from_the_position_of_the_plain_file(engine, db_url, tmp_path):
    log = tmp_path / "io_usage.log"
    log.write_text(text_of(BLOCKS[:40]))
    ingest(engine, log)
    offset = positions(engine)[0].offset
    with open(log, "a") as f:
        f.write(text_of(BLOCKS[40:45]))  # written after the last read, before the rotation
    rotated = tmp_path / "io_usage.log.1.gz"
    with open(log, "rb") as src, gzip.open(rotated, "wb") as dst:
        shutil.copyfileobj(src, dst)
    log.unlink()
    report = ingest(engine, rotated)
    assert report.files[0].resumed_at == offset and report.added.blocks_new == 5
    assert every_count(db_url) == reference(tmp_path, text_of(BLOCKS[:45]))


def test_resume_false_reads_everything_and_finds_nothing_new(engine, db_url, tmp_path):
    log = tmp_path / "io_usage.log"
    log.write_text(text_of(BLOCKS[:10]))
    ingest(engine, log)
    report = ingest_paths(engine, [str(log)], progress=False, resume=False)
    assert report.files[0].blocks == 10 and report.added.blocks_new == 0
    assert every_count(db_url) == reference(tmp_path, text_of(BLOCKS[:10]))


def test_a_last_line_cut_short_waits_for_the_next_read(engine, db_url, tmp_path):
    """A writer caught in the middle of a row: '[1K, 2K)     1' may be the start of '[1K, 2K)    12'."""
    log = tmp_path / "io_usage.log"
    last = BLOCKS[6]
    row = re.search(r"^\S[^\n]{15} *\d{2,} \|", last, re.MULTILINE)  # a row whose count has two digits or more
    cut = row.start() + 23  # its count without its last digit
    log.write_text(text_of(BLOCKS[:6]) + last[:cut])
    ingest(engine, log)
    with open(log, "a") as f:
        f.write(last[cut:] + BLOCKS[7])
    ingest(engine, log)
    assert every_count(db_url) == reference(tmp_path, text_of(BLOCKS[:8]))


def test_an_hour_split_by_copytruncate_is_joined_across_the_two_files(engine, db_url, tmp_path):
    """logrotate copied the file while the writer was in the middle of a row; the rest went to the emptied file."""
    first, rest = split_mid_line(BLOCKS[9])
    rotated, live = tmp_path / "io_usage.log.1", tmp_path / "io_usage.log"
    rotated.write_text(text_of(BLOCKS[:9]) + first)
    live.write_text(rest)
    ingest(engine, rotated)
    report = ingest(engine, live)  # the rest alone: the next hour has not begun, so it is not taken yet
    assert report.files[0].blocks == 0 and report.rejected == []
    with open(live, "a") as f:
        f.write(text_of(BLOCKS[10:12]))
    report = ingest(engine, live)  # alone, its predecessor found beside it
    assert report.rejected == []
    assert every_count(db_url) == reference(tmp_path, text_of(BLOCKS[:12]))


def test_a_copy_that_overlaps_is_not_taken_for_a_continuation(engine, db_url, tmp_path):
    """A file that starts in the middle of an hour older than the last one before it: not the rest of that one."""
    text = text_of(BLOCKS[:20])
    lines = text.splitlines(True)
    rotated, live = tmp_path / "io_usage.log.1", tmp_path / "io_usage.log"
    rotated.write_text("".join(lines[: 2 * len(lines) // 3]))
    live.write_text("".join(lines[len(lines) // 3 + 3 :]))
    report = ingest(engine, rotated, live)
    assert report.rejected  # the headless start of the copy: reported, credited to no hour
    assert every_count(db_url) == reference(tmp_path, text)
