"""Helpers for tests that need log text: an independent count of a log (its own regexes, not the parser's),
bpftrace-shaped text built from plain values, and blocks parsed from text the way the ingest parses a file."""

from __future__ import annotations

import io
import random
import re
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

# Where tests that need a fixed demo log start it (the demo ends at the current hour by default): the real month
# the demo is calibrated to, with the 2025-03-30 DST jump in it.
FIXED_START = datetime(2025, 3, 1, tzinfo=ZoneInfo("Europe/Zurich"))

_LOG = re.compile(r"^Log: .* \((\d+)\)\s*$")
_HEADER = re.compile(r"^@(rd|wr)_client\(([^,]+),([^)]+)\)\[([^\](]+)(?:\([^)]*\))?\]:\s*$")
_ROW = re.compile(r"^([\[(].*?[\])])\s*(\d+)\s*\|")


def independent_count(text: str) -> dict:
    """Blocks, entries and operations by direction of a well-formed log, counted without the product's parser.
    Blocks and entries count once per epoch and per (epoch, direction, machine, user)."""
    epochs, entries = set(), set()
    operations: Counter = Counter()
    rows: dict = {}
    epoch = key = None
    for line in text.splitlines():
        if m := _LOG.match(line):
            epoch, key = int(m.group(1)), None
            epochs.add(epoch)
        elif m := _HEADER.match(line):
            key = (epoch, m.group(1), m.group(2), m.group(4))
            entries.add(key)
        elif (m := _ROW.match(line)) and key:
            rows.setdefault((*key, m.group(1)), int(m.group(2)))
        elif not line.strip():
            key = None
    for (_epoch, direction, *_), count in rows.items():
        operations[direction] += count
    return {
        "blocks": len(epochs),
        "entries": len(entries),
        "operations": {"rd": operations["rd"], "wr": operations["wr"], "total": operations["rd"] + operations["wr"]},
        "rows": sum(1 for c in rows.values() if c),
    }


def row(label: str, count: int) -> str:
    """A histogram row exactly as bpftrace prints it."""
    return f"{label:<16}{count:>8} |{'@' * 10:<52}|"


def block(epoch: int, entries: dict, wallclock: str = "2025-03-12 14:00:15") -> str:
    """entries: {(direction, machine, user): {label: count}} -> one block's text."""
    lines = [f"Log: {wallclock} ({epoch})"]
    for (direction, machine, user), rows in entries.items():
        lines.append(f"@{direction}_client({machine},tik)[{user}(stud/tik)]:")
        lines.extend(row(label, count) for label, count in rows.items())
        lines.append("")
    return "\n".join(lines) + "\n"


def parse_lines(lines: Iterable[str]) -> list:
    """The blocks of a whole log given as lines (each with its newline), parsed as the ingest parses a file: cut
    at its Log: lines (read.split_pieces) and parsed a batch at a time (fastparse.parse_pieces), the last block
    included."""
    from clusterdash.ingest.fastparse import parse_pieces
    from clusterdash.ingest.read import split_pieces

    data = "".join(lines).encode("utf-8", "surrogateescape")
    pieces = [(piece, line) for piece, line, _, _ in split_pieces(io.BytesIO(data))]
    return [block for block in parse_pieces(pieces) if block is not None]


# Malformed lines of every kind, numbered; what the parser must make of each is in tests/test_parse.py.
MALFORMED = (
    "\n".join(
        [
            "Log: 2025-03-12 14:00:15 (1741784415)",  # 1
            "@rd_client(m1,tik)[alice(stud/tik)]:",  # 2
            row("[1K, 2K)", 5),  # 3
            "[2K, 4K)             x7 |@|",  # 4  bad count
            row("[4K, 8K)", 6),  # 5  still alice's
            "",  # 6
            "@rd_clent(m2,tik)[bob(stud/tik)]:",  # 7  unreadable header
            row("[1K, 2K)", 100),  # 8  bob's row: must not go to alice
            row("[2K, 4K)", 200),  # 9
            "",  # 10
            row("[8K, 16K)", 300),  # 11 after a blank line: no entry
            "@wr_client(m1,tik)[carol(staff/tik)]:",  # 12
            row("[1M, 2M)", 7),  # 13
            "garbage in the middle",  # 14
            row("[2M, 4M)", 8),  # 15 after an unreadable line: owner unknown
            "",  # 16
            "@rd_client(m1,tik)[alice(stud/tik)]:",  # 17 repeated key in the block
            row("[1K, 2K)", 999),  # 18
            "",  # 19
            "Log: garbage (not-an-epoch)",  # 20 unreadable Log: line
            "@rd_client(m3,tik)[dave(stud/tik)]:",  # 21 belongs to no readable block
            row("[1K, 2K)", 1),  # 22
            "Log: 2025-03-12 15:00:15 (1741788015)",  # 23
            "@rd_client(m3,tik)[dave(stud/tik)]:",  # 24
            row("[1K, 2K)", 2),  # 25
            "[1K, 2K)               3 |@@@",  # 26 cut-off line
            row("[1K, 2K)", 4),  # 27 bucket repeated in the entry
        ]
    )
    + "\n"
)


def random_block(rng: random.Random, epoch: int) -> str:
    """A block of random entries with every label form, rows as bpftrace prints them (some with glued counts)."""
    labels = [
        "[0]",
        "[1]",
        "[2, 4)",
        "[4, 8)",
        "[512, 1K)",
        "[1K, 2K)",
        "[64K, 128K)",
        "[1M, 2M)",
        "[1G, 2G)",
        "[8M, ...)",
        "(..., 0)",
        "[1024K, 2048K)",
    ]
    lines = [f"Log: 2025-03-12 14:00:15 ({epoch})"]
    for n in range(rng.randint(0, 6)):
        lines.append(f"@{rng.choice(['rd', 'wr'])}_client(m{n},tik)[u{n}(stud/tik)]:" + rng.choice(["", " "]))
        for label in rng.sample(labels, rng.randint(0, 5)):
            lines.append(
                f"{label:<16}{rng.choice([0, 1, 99, 12345678, 123456789]):>8} |{'@' * rng.randint(0, 52):<52}|"
            )
        lines.append("")
    return "\n".join(lines) + "\n"
