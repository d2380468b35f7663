"""The synthetic io_usage.log: exact format, determinism, calibration, files.

The regexes and the bucket labels here are written out independently of
clusterdash.ingest.demo on purpose: the test checks the generator against the
log format (README: "The input"), not against itself.
"""

from __future__ import annotations

import gzip
import re
import statistics
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from clusterdash.db.periods import HOUR, floor_hour
from clusterdash.errors import UserError
from clusterdash.ingest.demo import (
    DemoSummary,
    current_hour_end,
    demo_window,
    generate_lines,
    start_live,
    write_demo_log,
)
from clusterdash.ingest.pipeline import ingest_paths
from clusterdash.ingest.synthetic.render import histogram_rows
from tests.followtools import every_count, reference, wait_until
from tests.logtools import FIXED_START

ZURICH = ZoneInfo("Europe/Zurich")

ATTACHING = re.compile(r"Attaching \d+ probes\.\.\.\n")
LOG = re.compile(r"Log: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \((\d+)\)\n")
HEADER = re.compile(r"@(rd|wr)_client\(([a-z0-9-]+),(tik|itet)\)\[([a-z0-9_]+)\(([a-z]+)/([a-z]+)\)\]:\n")
ROW = re.compile(r"(\[[^\]\)]*[\)\]]) *( *\d+) \|(@*) *\|\n")
LOST = re.compile(r"Lost \d+ events\n")
BLANK = "\n"

LABELS = [
    "[2, 4)", "[4, 8)", "[8, 16)", "[16, 32)", "[32, 64)", "[64, 128)", "[128, 256)", "[256, 512)",
    "[512, 1K)", "[1K, 2K)", "[2K, 4K)", "[4K, 8K)", "[8K, 16K)", "[16K, 32K)", "[32K, 64K)",
    "[64K, 128K)", "[128K, 256K)", "[256K, 512K)", "[512K, 1M)", "[1M, 2M)",
]  # fmt: skip


@dataclass
class Entry:
    direction: str
    machine: str
    machine_type: str
    user: str
    status: str
    rows: list[tuple[str, int]] = field(default_factory=list)

    @property
    def operations(self) -> int:
        return sum(count for _, count in self.rows)


@dataclass
class Block:
    wall: str
    epoch: int
    entries: list[Entry] = field(default_factory=list)
    lost_lines: int = 0


@dataclass
class ParsedLog:
    blocks: list[Block]
    attaching_lines: int
    byte_count: int


def parse(lines: Iterator[str]) -> ParsedLog:
    """A strict reader: any line outside the spec's grammar fails the test."""
    blocks: list[Block] = []
    entry: Entry | None = None
    entry_bars: list[int] = []
    attaching = byte_count = 0
    for number, line in enumerate(lines, start=1):
        byte_count += len(line)
        where = f"line {number}: {line!r}"
        if m := ROW.fullmatch(line):
            assert entry is not None, f"row outside an entry, {where}"
            assert len(line) == 16 + 8 + 2 + 52 + 2, where  # label 16, count 8, " |", bar 52, "|\n"
            label, count, bar = m[1], int(m[2]), m[3]
            assert line[:16].rstrip() == label and line[16:24].strip() == str(count), where
            entry.rows.append((label, count))
            entry_bars.append(len(bar))
            continue
        if entry is not None:  # an entry ends with exactly one blank line
            assert line == BLANK, f"entry not closed by a blank line, {where}"
            check_histogram(entry, entry_bars)
            entry = None
            continue
        if m := HEADER.fullmatch(line):
            assert blocks, f"entry before the first Log line, {where}"
            entry = Entry(*m.groups()[:4], status=f"{m[5]}/{m[6]}")
            entry_bars = []
            blocks[-1].entries.append(entry)
        elif m := LOG.fullmatch(line):
            blocks.append(Block(m[1], int(m[2])))
        elif LOST.fullmatch(line):
            assert blocks, where
            blocks[-1].lost_lines += 1
        elif ATTACHING.fullmatch(line):
            assert number == 1, f"Attaching only at the top, {where}"
            attaching += 1
        else:
            pytest.fail(f"line outside the grammar, {where}")
    assert entry is None, "file ends inside an entry"
    return ParsedLog(blocks, attaching, byte_count)


def check_histogram(entry: Entry, bars: list[int]) -> None:
    labels = [label for label, _ in entry.rows]
    counts = [count for _, count in entry.rows]
    assert labels, f"entry without rows: {entry}"
    first = LABELS.index(labels[0])
    assert labels == LABELS[first : first + len(labels)], f"buckets not consecutive: {labels}"
    assert counts[0] > 0 and counts[-1] > 0, f"leading or trailing zero row: {entry}"
    top = max(counts)
    for count, bar in zip(counts, bars):
        # bpftrace: int(count / (float)max * 52); float32 may shave one off.
        assert count * 52 // top - 1 <= bar <= count * 52 // top, (count, top, bar)
    assert bars[counts.index(top)] == 52


@pytest.fixture(scope="module")
def month() -> ParsedLog:
    return parse(generate_lines(days=30, seed=0, start=FIXED_START))


def entries(log: ParsedLog) -> list[Entry]:
    return [e for b in log.blocks for e in b.entries]


# --- format ----------------------------------------------------------------


def test_renders_the_spec_example_exactly():
    # The first entry of the spec's example block, byte for byte.
    expected = [
        "[1K, 2K)               1 |@@@@@@@@@@@@@@@@@                                   |\n",
        "[2K, 4K)               0 |                                                    |\n",
        "[4K, 8K)               0 |                                                    |\n",
        "[8K, 16K)              0 |                                                    |\n",
        "[16K, 32K)             3 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n",
    ]
    counts = [0] * 20
    counts[LABELS.index("[1K, 2K)")] = 1
    counts[LABELS.index("[16K, 32K)")] = 3
    assert histogram_rows(counts) == expected


def test_every_line_follows_the_grammar(month):
    # parse() has already checked every line; here the overall shape.
    assert month.attaching_lines == 1
    assert len(month.blocks) > 600
    assert all(block.entries for block in month.blocks)


def test_log_lines_show_zurich_wall_clock_of_the_epoch(month):
    epochs = [b.epoch for b in month.blocks]
    assert epochs == sorted(epochs) and len(set(epochs)) == len(epochs)
    for block in month.blocks:
        local = datetime.fromtimestamp(block.epoch, ZURICH)
        assert block.wall == local.strftime("%Y-%m-%d %H:%M:%S")
        assert local.minute == 0, "blocks come just after the full hour"
    assert epochs[0] == int(datetime(2025, 3, 1, 1, tzinfo=ZURICH).timestamp()) + epochs[0] % 3600


def test_a_key_appears_at_most_once_per_block(month):
    for block in month.blocks:
        keys = [(e.direction, e.machine, e.user) for e in block.entries]
        assert len(keys) == len(set(keys)), block.wall


def test_entries_of_a_direction_are_printed_by_ascending_total(month):
    for block in month.blocks:
        for direction in ("rd", "wr"):
            totals = [e.operations for e in block.entries if e.direction == direction]
            assert totals == sorted(totals)


def test_spring_dst_jump_shows_in_the_wall_clock(month):
    walls = [b.wall[:16] for b in month.blocks]
    i = walls.index("2025-03-30 01:00")
    assert walls[i + 1] == "2025-03-30 03:00"
    assert month.blocks[i + 1].epoch - month.blocks[i].epoch == 3600


def test_autumn_repeats_an_hour():
    log = parse(generate_lines(days=3, seed=0, start=datetime(2025, 10, 25, tzinfo=ZURICH)))
    walls = [b.wall[:13] for b in log.blocks]
    assert walls.count("2025-10-26 02") == 2


def test_a_naive_start_is_zurich_wall_time():
    naive = list(generate_lines(days=1, seed=3, start=datetime(2025, 3, 1)))
    assert naive == list(generate_lines(days=1, seed=3, start=FIXED_START))


# --- where the log ends ---------------------------------------------------------


def test_by_default_the_log_ends_at_the_current_hour():
    before = time.time()
    log = parse(generate_lines(days=2, seed=1))
    after = time.time()
    last = log.blocks[-1].epoch
    assert floor_hour(before) - HOUR <= last <= after  # within one hour of now, never in the future
    assert last - log.blocks[0].epoch <= 2 * 24 * HOUR


def test_the_current_hour_is_the_last_one_whose_block_is_out():
    hour = int(datetime(2026, 12, 4, 21, tzinfo=ZURICH).timestamp())
    assert current_hour_end(hour + 30) == hour - HOUR  # bpftrace prints the 20:00-21:00 block just after 21:00
    assert current_hour_end(hour + 60) == hour
    assert current_hour_end(hour + HOUR - 1) == hour


def test_the_same_end_hour_writes_the_same_file_and_its_last_hour_always_has_its_block():
    for k in range(40):  # gaps come every ~36 hours: some of these ends fall where a gap would have been
        end = int(datetime(2025, 6, 1, tzinfo=ZURICH).timestamp()) + 7 * k * HOUR
        text = "".join(generate_lines(days=2, seed=k % 4, end=datetime.fromtimestamp(end, ZURICH)))
        assert text == "".join(generate_lines(days=2, seed=k % 4, end=datetime.fromtimestamp(end, ZURICH)))
        last = int(LOG.findall(text)[-1][1])
        assert floor_hour(last) == end, f"end {k}: the last block is {(end - floor_hour(last)) // HOUR} h early"


def test_a_log_has_a_start_or_an_end():
    assert demo_window(2, start=FIXED_START) == (int(FIXED_START.timestamp()), int(FIXED_START.timestamp()) + 172800)
    assert demo_window(2, end=FIXED_START) == (int(FIXED_START.timestamp()) - 172800, int(FIXED_START.timestamp()))
    with pytest.raises(ValueError, match="not both"):
        demo_window(2, start=FIXED_START, end=FIXED_START)


# --- a demo that keeps growing (serve --demo --live) -----------------------------------


def test_a_live_demo_appends_the_next_hours_and_ingests_them_exactly(engine, db_url, tmp_path):
    path = tmp_path / "io_usage.log"
    write_demo_log(path, days=2, seed=4, end=FIXED_START)
    ingest_paths(engine, [str(path)], progress=False)
    written = path.read_text()
    last = int(LOG.findall(written)[-1][1])
    stop = threading.Event()
    thread = start_live(engine, path, 0.05, stop, seed=4)
    try:
        wait_until(lambda: len(LOG.findall(path.read_text())) >= len(LOG.findall(written)) + 4, 30, "4 hours more")
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    text = path.read_text()
    assert text.startswith(written)
    appended = parse(iter(text[len(written) :].splitlines(keepends=True)))
    epochs = [b.epoch for b in appended.blocks]
    assert epochs[0] > last and epochs == sorted(epochs)
    assert all((b - a) % HOUR < 60 and b - a >= HOUR - 60 for a, b in zip([last, *epochs], epochs))  # hourly
    before_users = {e.user for b in parse(iter(written.splitlines(keepends=True))).blocks for e in b.entries}
    assert before_users & {e.user for e in entries(appended)}, "the same people go on working"
    assert every_count(db_url) == reference(tmp_path, text)  # each appended hour was ingested, exactly once


def test_a_live_demo_never_writes_into_a_database_not_built_from_its_log(engine, tmp_path):
    path = tmp_path / "io_usage.log"
    write_demo_log(path, days=1, seed=4, end=FIXED_START)
    with pytest.raises(UserError, match="not built from it"):
        start_live(engine, path, 0.05, threading.Event())
    with pytest.raises(UserError, match="cannot read"):
        start_live(engine, tmp_path / "missing.log", 0.05, threading.Event())


# --- determinism and streaming -------------------------------------------------


def test_same_seed_same_bytes_and_different_seed_different_bytes():
    first = "".join(generate_lines(days=3, seed=7, start=FIXED_START))
    assert first == "".join(generate_lines(days=3, seed=7, start=FIXED_START))
    assert first != "".join(generate_lines(days=3, seed=8, start=FIXED_START))


def test_generate_lines_streams():
    lines = generate_lines(days=365)
    assert isinstance(lines, Iterator)
    assert ATTACHING.fullmatch(next(lines)) and LOG.fullmatch(next(lines))


# --- calibration to the real month (spec table), seed 0, 30 days ------------------


def test_entries_per_hour(month):
    per_hour = [len(b.entries) for b in month.blocks]
    assert 17 <= statistics.mean(per_hour) <= 23  # real: 19.7
    assert 14 <= statistics.median(per_hour) <= 21  # real: 18
    assert min(per_hour) >= 2  # real: 2
    assert 55 <= max(per_hour) <= 120  # real: 86


def test_rows_per_entry_and_zero_rows(month):
    rows = [len(e.rows) for e in entries(month)]
    assert 8 <= statistics.mean(rows) <= 11.5  # real: 9.8
    assert max(rows) == 20  # real: 20
    counts = [count for e in entries(month) for _, count in e.rows]
    zero_share = counts.count(0) / len(counts)
    assert 0.10 <= zero_share <= 0.18  # real: 13.6 %


def test_population(month):
    all_entries = entries(month)
    users = {e.user for e in all_entries}
    assert 120 <= len(users) <= 135  # real: 131
    assert len({e.machine for e in all_entries}) == 39  # real: 39
    types = Counter(e.machine_type for e in all_entries)
    assert 0.70 <= types["tik"] / len(all_entries) <= 0.88  # real: 78 %
    roles = defaultdict(set)
    for e in all_entries:
        roles[e.status.split("/")[0]].add(e.user)
    assert set(roles) == {"guest", "ueb", "staff", "stud"}
    assert 60 <= len(roles["ueb"]) <= 80 and 30 <= len(roles["guest"]) <= 45  # real: 74, 39
    assert re.fullmatch(r"[a-z]+_\d{3}fs25", min(roles["ueb"]))  # course accounts
    affiliations = Counter(e.status.split("/")[1] for e in all_entries)
    assert affiliations["tik"] > affiliations["itet"] > 0
    statuses = defaultdict(set)
    for e in all_entries:
        statuses[e.user].add(e.status)
    assert 1 <= sum(len(s) > 1 for s in statuses.values()) <= 5  # a few change role once
    assert all(len(s) <= 2 for s in statuses.values())


def test_reads_and_writes(month):
    directions = Counter(e.direction for e in entries(month))
    assert 0.2 <= directions["wr"] / sum(directions.values()) <= 0.4


def test_operations_are_heavy_tailed_and_concentrated(month):
    ops = sorted(e.operations for e in entries(month))
    quantile = lambda q: ops[int(q * len(ops))]  # noqa: E731
    assert 300 <= quantile(0.5) <= 1500  # real: 654
    assert 10_000 <= quantile(0.9) <= 60_000  # real: 27,910
    assert 80_000 <= quantile(0.99) <= 400_000  # real: 162,056
    assert 400_000 <= ops[-1] <= 2_000_000  # real: 1,099,363
    by_user = Counter()
    for e in entries(month):
        by_user[e.user] += e.operations
    total = sum(by_user.values())
    top = [v for _, v in by_user.most_common(10)]
    assert 0.12 <= top[0] / total <= 0.35  # real: 22 %
    assert 0.60 <= sum(top) / total <= 0.82  # real: 71 %


def test_the_1m_bucket_holds_the_most_operations(month):
    by_bucket = Counter()
    for e in entries(month):
        for label, count in e.rows:
            by_bucket[label] += count
    assert by_bucket.most_common(1)[0][0] == "[1M, 2M)"
    assert set(by_bucket) <= set(LABELS) and "[2, 4)" in by_bucket


def test_gaps_and_lost_events(month):
    steps = [b.epoch - a.epoch for a, b in zip(month.blocks, month.blocks[1:])]
    gaps = [s for s in steps if s > 3600 + 60]
    assert 12 <= len(gaps) <= 30  # real: 20
    assert all(s < 5 * 3600 for s in gaps), "gaps of about two hours"
    assert all(s >= 3600 - 60 for s in steps)
    lost = sum(b.lost_lines for b in month.blocks)
    assert 1 <= lost <= 15


def test_size_per_hour(month):
    assert 12_000 <= month.byte_count / len(month.blocks) <= 24_000  # real: ~17 KB


# --- files -------------------------------------------------------------------


def summarize(log: ParsedLog) -> DemoSummary:
    all_entries = entries(log)
    return DemoSummary(
        blocks=len(log.blocks),
        entries=len(all_entries),
        rows=sum(len(e.rows) for e in all_entries),
        operations_rd=sum(e.operations for e in all_entries if e.direction == "rd"),
        operations_wr=sum(e.operations for e in all_entries if e.direction == "wr"),
        bytes_written=log.byte_count,
    )


def test_write_plain_file_matches_summary_and_lines(tmp_path):
    path = tmp_path / "io_usage.log"
    summary = write_demo_log(path, days=4, seed=2, start=FIXED_START)
    text = path.read_text(encoding="ascii")
    assert text == "".join(generate_lines(days=4, seed=2, start=FIXED_START))
    assert summary == summarize(parse(iter(text.splitlines(keepends=True))))
    assert summary.bytes_written == path.stat().st_size


def test_write_gz_file_is_readable_and_reproducible(tmp_path):
    path = tmp_path / "io_usage.log.2.gz"
    summary = write_demo_log(str(path), days=4, seed=2, start=FIXED_START)
    with gzip.open(path, "rt", encoding="ascii") as f:
        text = f.read()
    assert text == "".join(generate_lines(days=4, seed=2, start=FIXED_START))
    assert summary == summarize(parse(iter(text.splitlines(keepends=True))))
    again = tmp_path / "again.log.gz"
    write_demo_log(again, days=4, seed=2, start=FIXED_START)
    assert again.read_bytes() == path.read_bytes()
