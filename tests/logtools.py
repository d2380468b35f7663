"""Helpers for tests that need log text: an independent count of a log (its own regexes, not the parser's),
bpftrace-shaped text built from plain values, and blocks parsed from text the way the ingest parses a file."""

from __future__ import annotations

import io
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
