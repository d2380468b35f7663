"""The parser, on every form the spec lists and on a corpus of malformed lines, through the ingest's own path
(tests.logtools.parse_lines: cut at Log: lines, parsed a batch at a time, unusual blocks line by line)."""

import io
import random
import unicodedata

import pytest

from clusterdash.ingest.names import unsafe_name
from clusterdash.ingest.parse import (
    MAX_COUNT,
    LabelError,
    _parse_well_formed,
    _split_lines,
    parse_block,
    parse_block_text,
    parse_label,
    parse_status,
)
from clusterdash.ingest.read import split_pieces
from tests.logtools import MALFORMED, parse_lines, random_block, row

K, M, G, T, P, E = (1024**i for i in range(1, 7))


def blocks_of(text: str):
    return list(parse_lines(text.splitlines(True)))


@pytest.mark.parametrize(
    "label, lower, upper",
    [
        ("(..., 0)", None, 0),
        ("[0]", 0, 0),
        ("[1]", 1, 1),
        ("[2, 4)", 2, 4),
        ("[512, 1K)", 512, K),
        ("[1K, 2K)", K, 2 * K),
        ("[1M, 2M)", M, 2 * M),
        ("[1G, 2G)", G, 2 * G),
        ("[1T, 2T)", T, 2 * T),
        ("[1P, 2P)", P, 2 * P),
        ("[4E, 8E)", 4 * E, 8 * E),
        ("[8M, ...)", 8 * M, None),
        ("[100, 200)", 100, 200),
        ("(..., -10)", None, -10),
        ("[-10, 0)", -10, 0),
    ],
)
def test_every_label_form(label, lower, upper):
    bucket = parse_label(label)
    assert (bucket.lower, bucket.upper) == (lower, upper)


@pytest.mark.parametrize("label", ["[2, 2)", "[4, 2)", "[1X, 2X)", "[1K 2K)", "[", "(..., )", "[1K, 2K]", "[]"])
def test_bad_labels_are_refused(label):
    with pytest.raises(LabelError):
        parse_label(label)


def test_counts_glued_to_long_labels_split_on_the_bracket():
    text = "Log: t (1)\n@rd_client(m,tik)[u]:\n[128K, 256K)12345678 |@@@|\n[1024K, 2048K)  123456789 |@|\n"
    (block,) = blocks_of(text)
    assert not block.rejected
    assert block.entries[0].rows == {"[128K, 256K)": 12345678, "[1024K, 2048K)": 123456789}


@pytest.mark.parametrize(
    "status, expected",
    [
        ("stud/tik", ("stud", "tik")),
        ("guest/itet", ("guest", "itet")),
        ("unknown", ("unknown", None)),
        ("", (None, None)),
        (None, (None, None)),
        ("staff/", ("staff", None)),
    ],
)
def test_status_forms(status, expected):
    assert parse_status(status) == expected


HEADERS = """Log: 2025-03-12 14:00:15 (1741784415)
@rd_client(tikgpu03,tik)[user0033(guest/tik)]:
{r1}

@wr_client(arton04,itet)[user0021(stud/tik)]:
{r2}

@rd_client(polaris,tik)[user0050(unknown)]:
{r3}

@rd_client(tardis-a11,tik)[user0051()]:
{r3}

@rd_client(tik42x,tik)[hodl_001fs25]:

@wr_client(tikgpu03,tik)[user0033(guest/tik)]:
""".format(r1=row("[1K, 2K)", 1), r2=row("[4K, 8K)", 12), r3=row("[0]", 5))


def test_header_variants_and_directions():
    (block,) = blocks_of(HEADERS)
    assert block.epoch == 1741784415 and block.wallclock == "2025-03-12 14:00:15"
    assert not block.rejected
    got = {(e.direction, e.machine, e.machine_type, e.user, e.role, e.affiliation): e.rows for e in block.entries}
    assert got == {
        ("rd", "tikgpu03", "tik", "user0033", "guest", "tik"): {"[1K, 2K)": 1},
        ("wr", "arton04", "itet", "user0021", "stud", "tik"): {"[4K, 8K)": 12},  # trailing space after ]:
        ("rd", "polaris", "tik", "user0050", "unknown", None): {"[0]": 5},
        ("rd", "tardis-a11", "tik", "user0051", None, None): {"[0]": 5},
        ("rd", "tik42x", "tik", "hodl_001fs25", None, None): {},  # header without rows
        ("wr", "tikgpu03", "tik", "user0033", "guest", "tik"): {},  # same user and machine, other direction
    }


def test_notices_lost_events_flag_and_attaching_is_ignored():
    text = (
        "Attaching 4 probes...\nLog: 2025-03-12 14:00:15 (1741784415)\nLost 17 events\n"
        "@rd_client(a,tik)[u(stud/tik)]:\n" + row("[2, 4)", 3) + "\n\nLost 3 events\n"
    )
    (block,) = blocks_of(text)
    assert block.lost_events == 20 and not block.rejected
    assert block.entries[0].rows == {"[2, 4)": 3}


def test_zero_rows_between_non_zero_rows_are_kept_as_zero():
    text = "Log: x (1)\n@rd_client(a,tik)[u]:\n" + "\n".join(
        [row("[1K, 2K)", 4), row("[2K, 4K)", 0), row("[4K, 8K)", 9)]
    )
    assert blocks_of(text)[0].entries[0].rows == {"[1K, 2K)": 4, "[2K, 4K)": 0, "[4K, 8K)": 9}


def test_malformed_corpus_reports_each_line_and_credits_no_neighbour():
    blocks = blocks_of(MALFORMED)
    good = [b for b in blocks if b.epoch is not None]
    assert [b.epoch for b in good] == [1741784415, 1741788015]
    first, second = good
    entries = {e.key: e.rows for e in first.entries}
    assert entries == {("rd", "m1", "alice"): {"[1K, 2K)": 5, "[4K, 8K)": 6}, ("wr", "m1", "carol"): {"[1M, 2M)": 7}}
    assert {e.key: e.rows for e in second.entries} == {("rd", "m3", "dave"): {"[1K, 2K)": 2}}
    rejected = {r.line: r.reason for b in blocks for r in b.rejected}
    assert sorted(rejected) == [4, 7, 8, 9, 11, 14, 15, 17, 18, 20, 21, 22, 26, 27]
    assert "unreadable entry header" in rejected[7]
    assert "line 7" in rejected[8] and "line 7" in rejected[9]
    assert "blank line" in rejected[11]
    assert "line 14" in rejected[15]
    assert "twice" in rejected[17] and "line 17" in rejected[18]
    assert "Log:" in rejected[20] and "Log: line 20" in rejected[21]
    assert "appears twice" in rejected[27]
    texts = {r.line: r.text for b in blocks for r in b.rejected}
    assert texts[8] == row("[1K, 2K)", 100)


def test_nothing_before_the_first_log_line_is_lost():
    (preamble, block) = blocks_of("@rd_client(a,tik)[u]:\n" + row("[2, 4)", 1) + "\nLog: t (5)\n")
    assert preamble.epoch is None and [r.line for r in preamble.rejected] == [1, 2]
    assert block.epoch == 5 and block.entries == []


def test_fast_path_equals_line_by_line_parse():
    rng = random.Random(42)
    for i in range(300):
        text = random_block(rng, 1000 + i)
        fast = _parse_well_formed(text, 1)
        slow = parse_block(_split_lines(text), 1)
        assert fast is not None, text
        assert [(e.key, e.role, e.affiliation, e.rows, e.line) for e in fast.entries] == [
            (e.key, e.role, e.affiliation, e.rows, e.line) for e in slow.entries
        ]
        assert not slow.rejected


def test_a_block_is_complete_only_when_the_next_log_line_follows():
    text = "Log: a (10)\n@rd_client(m,tik)[u]:\n" + row("[2, 4)", 1) + "\nLog: b (20)\n@rd_client(m,tik)[u]:\n"
    pieces = list(split_pieces(io.BytesIO(text.encode())))
    assert [(piece.split(b"\n", 1)[0], line, complete) for piece, line, _, complete in pieces] == [
        (b"Log: a (10)", 1, True),
        (b"Log: b (20)", 4, False),
    ]
    assert [offset for _, _, offset, _ in pieces] == [0, text.index("Log: b")]


def test_block_text_digest_is_stable_and_content_sensitive():
    a = parse_block_text("Log: t (1)\n@rd_client(m,tik)[u]:\n" + row("[2, 4)", 1) + "\n", 1)
    b = parse_block_text("Log: t (1)\n@rd_client(m,tik)[u]:\n" + row("[2, 4)", 1) + "\n", 50)
    c = parse_block_text("Log: t (1)\n@rd_client(m,tik)[u]:\n" + row("[2, 4)", 2) + "\n", 1)
    assert a.digest == b.digest != c.digest


def test_the_name_rule_refuses_controls_and_invisible_formatting_and_nothing_else():
    refused = {c for c in map(chr, range(0x10000)) if unsafe_name(f"a{c}b") is not None}
    expected = {c for c in map(chr, range(0x10000)) if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp")}
    assert refused == expected | {"\ufffd"}
    assert {"\u202e", "\u2066", "\u2069", "\u200e", "\u200f", "\u200b", "\ufeff", "\x00", "\t", "\r"} <= refused
    for name in ("<b>bold</b>", '=HYPERLINK"http://evil.example"', "+1", "-2", "@SUM", "bøb", "用户", "u" * 255):
        assert unsafe_name(name) is None, name
    assert unsafe_name("u" * 256) == "is 256 characters long (at most 255)"
    assert unsafe_name("rtl\u202eevil") == "holds an invisible formatting character, U+202E (character 4)"
    assert unsafe_name("\x00") == "holds a control character, U+0000 (character 1)"


LARGER = " is larger than 4,294,967,295, the most one histogram row can hold"


@pytest.mark.parametrize(
    "count, reason",
    [
        (MAX_COUNT, None),
        ("0" * 30 + "7", None),
        (MAX_COUNT + 1, "count 4294967296" + LARGER),
        ("9" * 5000, "count of 5,000 digits" + LARGER),
        (-5, "count '-5' is negative"),
        ("x7", "count 'x7' is not a whole number"),
        ("1.5", "count '1.5' is not a whole number"),
        ("-" + "9" * 30, "count '-99999999999999999999999'... (31 characters) is negative"),
    ],
)
def test_counts_past_the_bound_negative_or_not_numbers_are_rejected_with_their_reason(count, reason):
    rows = [row("[0]", 1), row("[1K, 2K)", count), row("[1]", 2)]
    (block,) = blocks_of("Log: t (7)\n@rd_client(m,tik)[u]:\n" + "\n".join(rows) + "\n")
    assert [(r.line, r.reason) for r in block.rejected] == ([] if reason is None else [(4, reason)])
    kept = {"[0]": 1, "[1]": 2} if reason else {"[0]": 1, "[1K, 2K)": int(count), "[1]": 2}
    assert block.entries[0].rows == kept  # the rows around it stay the entry's
