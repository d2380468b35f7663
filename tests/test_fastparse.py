"""The batch parser (ingest.fastparse) against the line-by-line parser: the same blocks, whatever the input."""

import random

import numpy as np
import pytest

from clusterdash.ingest import fastparse
from clusterdash.ingest.demo import generate_lines
from clusterdash.ingest.fastparse import distinct_rows, parse_pieces
from clusterdash.ingest.parse import MAX_COUNT, MAX_EPOCH, parse_block_bytes
from clusterdash.ingest.read import split_pieces
from tests.hostile import write_hostile_log
from tests.logtools import FIXED_START, MALFORMED, random_block, row


def comparable(block):
    """Everything a block says, entries made from whichever form the parser gave."""
    if block is None:
        return None
    return (
        block.epoch,
        block.wallclock,
        block.line,
        block.anchor,
        block.end_line,
        block.lost_events,
        block.digest,
        block.columns().operations(),  # before `entries` turns the columns into Entry objects
        [
            (e.direction, e.machine, e.machine_type, e.user, e.role, e.affiliation, e.line, e.rows)
            for e in block.entries
        ],
        [(r.line, r.text, r.reason, r.ordinal) for r in block.rejected],
    )


def pieces_of(text: str) -> list[tuple[bytes, int]]:
    import io

    return [(piece, line) for piece, line, _, _ in split_pieces(io.BytesIO(text.encode("utf-8", "surrogateescape")))]


def assert_same_as_one_by_one(pieces) -> list[bool]:
    """Parse in one batch and one by one: the same blocks. Returns which blocks took the fast path."""
    batch = parse_pieces(pieces)
    fast = [b is not None and b.histograms is not None for b in batch]  # before `entries` makes Entry objects
    assert [comparable(b) for b in batch] == [comparable(parse_block_bytes(data, line)) for data, line in pieces]
    return fast


def test_random_blocks_parse_as_line_by_line_and_printed_ones_take_the_fast_path():
    rng = random.Random(7)
    texts = [random_block(rng, 1000 + i) for i in range(300)]
    fast = assert_same_as_one_by_one(pieces_of("".join(texts)))
    printed = [all(len(line) == 79 for line in text.splitlines() if line[:1] in ("[", "(")) for text in texts]
    assert fast == printed
    assert 50 < sum(printed) < 300  # both paths were exercised


def test_demo_log_with_the_malformed_corpus_in_the_middle():
    demo = list(generate_lines(days=3, seed=5, start=FIXED_START))
    text = "".join(demo[: len(demo) // 2]) + MALFORMED + "".join(demo[len(demo) // 2 :])
    fast = assert_same_as_one_by_one(pieces_of(text))
    assert 0.8 * len(fast) < sum(fast) < len(fast)  # the demo's blocks, but not the corpus's


BASE = (
    "Log: 2025-03-12 14:00:15 (1741784415)\n"
    "@rd_client(m1,tik)[alice(stud/tik)]:\n"
    + row("[1K, 2K)", 5)
    + "\n"
    + row("[2K, 4K)", 0)
    + "\n"
    + row("[4K, 8K)", 12345678)
    + "\n\n"
    "@wr_client(m2,itet)[bob]:\n" + row("[1M, 2M)", 7) + "\n\n"
)


@pytest.mark.parametrize(
    "name, text",
    [
        ("as printed", BASE),
        ("header without rows at the end", BASE + "@rd_client(m3,tik)[carol()]:\n"),
        ("trailing space after a header", BASE.replace("[bob]:", "[bob]: ")),
        (
            "row before any header",
            BASE.replace(
                "Log: 2025-03-12 14:00:15 (1741784415)\n",
                "Log: 2025-03-12 14:00:15 (1741784415)\n" + row("[0]", 1) + "\n",
            ),
        ),
        ("row after a blank line", BASE + row("[1]", 2) + "\n"),
        ("bar with a pipe in it", BASE.replace("|@@@@@@@@@@", "|@@@@|@@@@@", 1)),
        ("count not right-aligned", BASE.replace("       5 |", "    5    |")),
        ("count glued to a long label", BASE + "@rd_client(m4,tik)[dave]:\n[1024K, 2048K)  123456789 |@|\n"),
        ("bucket twice", BASE.replace(row("[2K, 4K)", 0), row("[1K, 2K)", 9))),
        ("entry twice", BASE + "@rd_client(m1,tik)[alice(staff/tik)]:\n" + row("[0]", 1) + "\n"),
        ("unknown label", BASE.replace("[2K, 4K)", "[2K, 4Q)")),
        ("Lost events", BASE + "Lost 12 events\n"),
        ("carriage returns", BASE.replace("\n", "\r\n")),
        ("non-ASCII user", BASE.replace("bob", "bøb")),
        ("unreadable Log: line", BASE.replace("(1741784415)", "(soon)")),
        ("count at the bound", BASE.replace(row("[1K, 2K)", 5), row("[1K, 2K)", MAX_COUNT))),
        ("count past the bound", BASE.replace(row("[1K, 2K)", 5), row("[1K, 2K)", MAX_COUNT + 1))),
        ("count of 5,000 digits", BASE.replace(row("[1K, 2K)", 5), row("[1K, 2K)", "9" * 5000))),
        ("negative count", BASE.replace(row("[1K, 2K)", 5), row("[1K, 2K)", -5))),
        ("count not a number", BASE.replace(row("[1K, 2K)", 5), row("[1K, 2K)", "1.5e3"))),
        ("user of 255 characters", BASE.replace("bob", "b" * 255)),
        ("user of 256 characters", BASE.replace("bob", "b" * 256)),
        ("user with a NUL", BASE.replace("bob", "b\x00b")),
        ("user with ESC", BASE.replace("bob", "b\x1bb")),
        ("role with a right-to-left override", BASE.replace("stud/tik", "st\u202eud/tik")),
        ("machine with a zero-width space", BASE.replace("m2", "m\u200b2")),
        ("epoch past the bound", BASE.replace("(1741784415)", f"({MAX_EPOCH + 1})")),
        ("time text with a NUL", BASE.replace("14:00:15", "14:00\x00:15")),
        ("Lost past the bound", BASE + "Lost 99999999999999999999 events\n"),
        ("label of 800 digits", BASE.replace("[2K, 4K)", "[1" + "0" * 400 + ", 2" + "0" * 400 + ")")),
    ],
)
def test_every_oddity_gives_the_line_by_line_result(name, text):
    following = "Log: 2025-03-12 15:00:15 (1741788015)\n@rd_client(m1,tik)[alice]:\n" + row("[0]", 3) + "\n"
    fast = assert_same_as_one_by_one(
        pieces_of(following + text + following.replace("15:00", "16:00").replace("1741788015", "1741791615"))
    )
    printed = name in (
        "as printed",
        "header without rows at the end",
        "trailing space after a header",
        "user of 255 characters",
    )
    assert fast == [True, printed, True]  # the neighbours are not affected


def test_the_hostile_corpus_parses_as_line_by_line_and_each_bad_line_is_explained(tmp_path):
    corpus = write_hostile_log(tmp_path / "io_usage.log", seed=1, many_users=500)
    pieces = pieces_of(corpus.path.read_bytes().decode("utf-8", "surrogateescape"))
    fast = assert_same_as_one_by_one(pieces)
    assert fast[6] and not fast[0]  # the many users' hour as printed; the counts' hour line by line
    reasons = {r.line: r.reason for block in parse_pieces(pieces) if block is not None for r in block.rejected}
    assert sorted(reasons) == sorted(corpus.rejected)
    assert all(phrase in reasons[line] for line, phrase in corpus.rejected.items())


def test_distinct_rows_codes_equal_rows_alike_and_gives_up_on_a_shared_slot():
    # bpftrace's label columns (16 bytes, as the parser hands them over), each many times, in a seeded order.
    labels = [
        "(..., 0)",
        "[0]",
        "[1]",
        "[2, 4)",
        "[4, 8)",
        "[8, 16)",
        "[16, 32)",
        "[32, 64)",
        "[64, 128)",
        "[128, 256)",
        "[256, 512)",
        "[512, 1K)",
        "[1K, 2K)",
        "[2K, 4K)",
        "[4K, 8K)",
        "[8K, 16K)",
        "[16K, 32K)",
        "[32K, 64K)",
        "[64K, 128K)",
        "[128K, 256K)",
        "[256K, 512K)",
        "[512K, 1M)",
        "[1M, 2M)",
        "[1G, 2G)",
        "[1T, 2T)",
        "[8M, ...)",
    ]
    columns = np.frombuffer("".join(label.ljust(16) for label in labels).encode(), dtype=np.uint64).reshape(-1, 2)
    words = columns[np.random.default_rng(11).integers(0, len(columns), size=5000)]
    codes, first = distinct_rows(words)
    assert (words[first[codes]] == words).all()  # each row is its code's row
    assert len(first) == len({tuple(w) for w in words.tolist()})  # one code per distinct row
    assert distinct_rows(np.array([[1, 2], [3, 4], [5, 6]], dtype=np.uint64), bits=1) is None  # 3 rows, 2 slots


def test_labels_coded_without_the_hash_table_parse_the_same(monkeypatch):
    monkeypatch.setattr(fastparse, "HASH_BITS", 1)  # every batch has 3+ distinct labels: the dict path codes them
    demo = list(generate_lines(days=2, seed=3, start=FIXED_START))
    text = "".join(demo[: len(demo) // 2]) + MALFORMED + "".join(demo[len(demo) // 2 :])
    fast = assert_same_as_one_by_one(pieces_of(text))
    assert sum(fast) > 0.8 * len(fast)
