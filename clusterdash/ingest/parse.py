"""Pure parsing of io_usage.log: lines in, blocks out. Imports nothing of the package and does no I/O.

`LogParser` is push-style so that a reader can follow a growing file: feed it
one line at a time and it returns a `Block` whenever a `Log:` line closes the
previous one; `finish()` returns the last block when the input is known to be
complete. `parse_lines()` wraps it as a streaming generator.

Malformed lines never stop the parse and never move data between entries:
each becomes a `Rejected` record (line number, text, reason) inside the block
where it occurred, and rows that follow an unreadable header belong to no one
and are rejected as well.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Iterator, NamedTuple, Optional

import numpy as np

DIRECTIONS = ("rd", "wr")
SMALL_IO_LIMIT = 4096  # bytes; a bucket wholly below this is small IO (the dashboard's "small IO share")

_SUFFIX = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5, "E": 1024**6}
_NUMBER = r"(-?\d+)([KMGTPE]?)"
_LABEL_NEGATIVE = re.compile(r"^\(\.\.\., " + _NUMBER + r"\)$")
_LABEL_EXACT = re.compile(r"^\[" + _NUMBER + r"\]$")
_LABEL_RANGE = re.compile(r"^\[" + _NUMBER + r", " + _NUMBER + r"\)$")
_LABEL_OPEN = re.compile(r"^\[" + _NUMBER + r", \.\.\.\)$")

_LOG_LINE = re.compile(r"^Log: (\S[^()]{0,62}?) \((\d{1,12})\)$")
_LOST_LINE = re.compile(r"^Lost (\d+) events$")
_ATTACHING_LINE = re.compile(r"^Attaching \d+ probes?\.\.\.$")
_HEADER = re.compile(r"^@(rd|wr)_client\(([^,()\s]+),([^,()\s]+)\)\[([^\[\]()\s]+)(?:\(([^()]*)\))?\]:$")


class Bucket(NamedTuple):
    """A histogram bucket: sizes in [lower, upper). lower == upper: exactly that size ('[0]', '[1]');
    lower None: negative values; upper None: open-ended ('[8M, ...)')."""

    label: str
    lower: Optional[float]
    upper: Optional[float]


@dataclass(slots=True)
class Entry:
    """One histogram: the operations of one user on one client machine in one direction during the block's hour."""

    direction: str
    machine: str
    machine_type: str
    user: str
    role: Optional[str]
    affiliation: Optional[str]
    line: int
    rows: dict[str, int] = field(default_factory=dict)  # bucket label -> count (see bucket_of); zeros kept

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.direction, self.machine, self.user)


@dataclass(slots=True)
class Rejected:
    """A line that is not valid data, kept for inspection. `ordinal`: its line's distance from the block's first line."""

    line: int
    text: str
    reason: str
    ordinal: int


@dataclass(slots=True)
class Block:
    """One hour of the log. epoch None: lines before the first `Log:` line, or under an unreadable one."""

    epoch: Optional[int]
    wallclock: str
    line: int
    anchor: str  # the text that identifies the block across copies of the file: its Log: line
    start_offset: Optional[int] = None
    end_offset: Optional[int] = None
    end_line: Optional[int] = None  # the first line after the block
    lost_events: int = 0
    digest: Optional[str] = None  # of the block's text: an identical copy of a block has the same digest
    entries: list[Entry] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def is_data(self) -> bool:
        return self.epoch is not None


class LabelError(ValueError):
    pass


def _number(digits: str, suffix: str) -> int:
    return int(digits) * _SUFFIX[suffix]


@lru_cache(maxsize=4096)
def parse_label(label: str) -> Bucket:
    """The bucket a bpftrace hist()/lhist() label names, e.g. '[1K, 2K)' -> 1024..2048. Raises LabelError."""
    if m := _LABEL_RANGE.match(label):
        lower, upper = _number(*m.group(1, 2)), _number(*m.group(3, 4))
        if lower >= upper:
            raise LabelError(f"bucket {label!r} has its lower bound at or above its upper bound")
        return Bucket(label, float(lower), float(upper))
    if m := _LABEL_EXACT.match(label):
        value = float(_number(*m.group(1, 2)))
        return Bucket(label, value, value)
    if m := _LABEL_OPEN.match(label):
        return Bucket(label, float(_number(*m.group(1, 2))), None)
    if m := _LABEL_NEGATIVE.match(label):
        return Bucket(label, None, float(_number(*m.group(1, 2))))
    raise LabelError(f"unknown bucket label {label!r}")


_ROW = re.compile(r"^(\(\.\.\., -?\d+[KMGTPE]?\)|\[[^\])]*[\])])\s*(\d+)(?: *\|[^|]*\|)?\s*$")


def parse_row(line: str) -> tuple[Bucket, int]:
    """Split a histogram row into its bucket and count. The label ends at its closing ')' or ']':
    long labels and 8-digit counts touch, so white space cannot be trusted as the separator. Raises LabelError."""
    m = _ROW.match(line)
    if m is None:
        raise LabelError("unreadable histogram row (expected '<label> <count> |<bar>|'; a cut-off line?)")
    return parse_label(m.group(1)), int(m.group(2))


def parse_header(line: str) -> Entry | None:
    """An Entry (without rows) for an entry header line, or None when the line is not a readable header."""
    m = _HEADER.match(line)
    if m is None:
        return None
    direction, machine, machine_type, user, status = m.groups()
    role, affiliation = parse_status(status)
    return Entry(direction, machine, machine_type, user, role, affiliation, 0)


def parse_status(status: Optional[str]) -> tuple[Optional[str], Optional[str]]:
    """'stud/tik' -> (stud, tik); 'unknown' -> (unknown, None); '' or absent -> (None, None)."""
    if not status:
        return None, None
    role, slash, affiliation = status.partition("/")
    return (role or None), (affiliation or None) if slash else None


def is_log_line(line: str) -> bool:
    """Does this line open a new block? Readers split their input into blocks with it."""
    return line.startswith("Log:")


def parse_block_text(text: str, first_line: int) -> Block | None:
    """Parse one block given as a string (see parse_block_bytes)."""
    return parse_block_bytes(text.encode("utf-8", "surrogatepass"), first_line, text)


def parse_block_bytes(data: bytes, first_line: int, text: Optional[str] = None) -> Block | None:
    """Parse one block: a `Log:` line and what follows it up to the next one (or, at the start of a file,
    whatever comes before the first `Log:` line). None for a block with nothing to keep. `text`: the same
    block already decoded, if the caller has it.

    A block as bpftrace prints it (nearly all of them) takes a vectorised fast path; anything unusual sends the
    whole block to the line-by-line parser, which explains each bad line."""
    block = _parse_printed(data, first_line) if data.isascii() else None
    if block is not None:
        block.digest = hashlib.sha1(data).hexdigest()
        return block
    if text is None:
        text = data.decode("utf-8", "replace")
    block = parse_block(_split_lines(text), first_line)
    if block is not None:
        block.digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
    return block


def _split_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


# bpftrace prints a row as '%-16s%8d |%-52s|': 79 characters, label in columns 0-15, count in 16-23, ' |' in 24-25,
# the bar in 26-77, '|' in 78. Rows of another width (a label or count too long for its column) take a regex.
_ROW_WIDTH = 79
_ROW_COLUMNS = np.arange(26)
_DIGIT_VALUES = 10 ** np.arange(7, -1, -1, dtype=np.int64)
_NEWLINE, _AT, _BRACKET, _PAREN, _SPACE, _PIPE, _ZERO, _NINE = b"\n@[( |09"


def _parse_printed(data: bytes, first_line: int) -> Block | None:
    """The fast path, for an ASCII block as bpftrace prints it: Log: line, entry headers, rows, blank lines.
    The lines are classified and the fixed-width rows read by numpy, one array operation for all rows of the
    block; Python runs once per entry, not per row. None as soon as anything is unusual: then parse_block
    reads the block line by line and explains what is wrong (tests check both give the same blocks)."""
    if not data.endswith(b"\n"):
        return None
    head = data[:data.index(b"\n")].decode().strip()
    m = _LOG_LINE.match(head)
    if m is None:
        return None
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == _NEWLINE)
    starts = ends[:-1] + 1  # the lines after the Log: line
    ends = ends[1:]
    lengths = ends - starts
    first = buf[starts]  # an empty line's first byte is its newline
    blank, header = lengths == 0, first == _AT
    row = (first == _BRACKET) | (first == _PAREN)
    if not (blank | header | row).all():  # a bpftrace notice, a cut-off line, ...: the general parser
        return None
    # A row belongs to the closest entry header above it, unless a blank line comes between them.
    index = np.arange(len(starts))
    last_header = np.maximum.accumulate(np.where(header, index, -1))
    last_blank = np.maximum.accumulate(np.where(blank, index, -1))
    owner = last_header[row]
    if (owner <= last_blank[row]).any():
        return None

    row_starts, row_lengths = starts[row], lengths[row]
    printed = row_lengths == _ROW_WIDTH
    # Each row has its two bars ('|'), and nothing else in the block has one (else: the general parser).
    if data.count(b"|") != 2 * len(row_starts) or (buf[ends[row] - 1] != _PIPE).any():
        return None
    cells = buf[row_starts[printed, None] + _ROW_COLUMNS]  # label, count, ' |'
    digits = cells[:, 16:24]
    is_digit = (digits >= _ZERO) & (digits <= _NINE)
    if not ((cells[:, 24] == _SPACE) & (cells[:, 25] == _PIPE)).all() or not (is_digit | (digits == _SPACE)).all() \
            or not is_digit[:, 7].all() or (is_digit[:, 1:] < is_digit[:, :-1]).any():  # right-aligned digits
        return None
    counts = ((digits.astype(np.int64) - _ZERO) * is_digit) @ _DIGIT_VALUES
    raw_labels = np.ascontiguousarray(cells[:, :16]).view("S16").ravel().tolist()
    try:
        row_labels = list(map(_PRINTED_LABELS.__getitem__, raw_labels))
    except KeyError:  # a label column not seen before: learn it, if it holds a valid label
        for raw in set(raw_labels) - _PRINTED_LABELS.keys():
            label = raw.decode().rstrip()
            if not _known_label(label):
                return None
            _PRINTED_LABELS[raw] = label
        row_labels = list(map(_PRINTED_LABELS.__getitem__, raw_labels))
    row_counts = counts.tolist()
    if not printed.all():
        row_labels, row_counts = _with_odd_rows(data, row_starts, row_lengths, printed, row_labels, row_counts)
        if row_labels is None:
            return None

    block = Block(int(m.group(2)), m.group(1), first_line, head)
    header_lines = np.flatnonzero(header)
    bounds = np.searchsorted(owner, header_lines).tolist() + [len(owner)]
    keys = set()
    for k, (line, start, end) in enumerate(zip(header_lines.tolist(), starts[header_lines].tolist(),
                                               ends[header_lines].tolist())):
        fields = _header_fields(data[start:end])
        if fields is None:
            return None
        entry = Entry(*fields, first_line + 1 + line)
        if entry.key in keys:
            return None
        keys.add(entry.key)
        lo, hi = bounds[k], bounds[k + 1]
        if hi > lo:
            entry.rows = dict(zip(row_labels[lo:hi], row_counts[lo:hi]))
            if len(entry.rows) != hi - lo:  # a bucket twice
                return None
        block.entries.append(entry)
    block.end_line = first_line + len(ends) + 1
    return block


_PRINTED_LABELS: dict[bytes, str] = {}  # a row's first 16 bytes -> its (valid) label


@lru_cache(maxsize=65536)
def _header_fields(line: bytes) -> Optional[tuple]:
    """(direction, machine, type, user, role, affiliation) of an entry header line; None if unreadable. Cached:
    the same few thousand headers come back every hour."""
    entry = parse_header(line.decode().strip())
    if entry is None:
        return None
    return entry.direction, entry.machine, entry.machine_type, entry.user, entry.role, entry.affiliation


def _with_odd_rows(data, row_starts, row_lengths, printed, labels, counts):
    """All rows' labels and counts, the rows not of the printed width read by the row regex; (None, None) if one
    is not a valid row."""
    printed_labels, printed_counts = iter(labels), iter(counts)
    labels, counts = [], []
    for start, length, fixed in zip(row_starts.tolist(), row_lengths.tolist(), printed.tolist()):
        if fixed:
            labels.append(next(printed_labels))
            counts.append(next(printed_counts))
            continue
        m = _ROW.match(data[start:start + length].decode())
        if m is None or not _known_label(m.group(1)):
            return None, None
        labels.append(m.group(1))
        counts.append(int(m.group(2)))
    return labels, counts


def _known_label(label: str) -> bool:
    """Is this a valid bucket label? Valid ones are remembered, so the fast path recognises them by lookup."""
    if label not in _BUCKETS:
        try:
            _BUCKETS[label] = parse_label(label)
        except LabelError:
            return False
    return True


def bucket_of(label: str) -> Bucket:
    """The bucket of a label that the parser accepted."""
    return _BUCKETS.get(label) or parse_label(label)


def parse_block(lines: list[str], first_line: int) -> Block | None:
    """Parse one block given as lines, explaining every line that is not valid data (see parse_block_text)."""
    head = lines[0].rstrip("\r\n").strip() if lines else ""
    m = _LOG_LINE.match(head) if head.startswith("Log:") else None
    if m is not None:
        block = Block(int(m.group(2)), m.group(1), first_line, head)
        body_start = 1
    elif head.startswith("Log:"):
        block = Block(None, "", first_line, head)
        block.rejected.append(Rejected(first_line, lines[0].rstrip("\r\n"),
                                       "unreadable Log: line (expected 'Log: <time> (<epoch seconds>)'); "
                                       "its block is kept as rejected lines", 0))
        body_start = 1
    else:
        block = Block(None, "", first_line, "")
        body_start = 0

    rejected = block.rejected
    entries = block.entries
    keys: set[tuple[str, str, str]] = set()
    entry: Entry | None = None
    orphaned_by = "no entry header before it"
    row_match = _ROW.match
    buckets = _BUCKETS
    line_no = first_line + body_start - 1
    for text in lines[body_start:]:
        line_no += 1
        line = text.rstrip("\r\n")
        first = line[:1]
        if first == "[" or first == "(":
            m = row_match(line)
            if m is None:
                rejected.append(Rejected(line_no, line, "unreadable histogram row (expected '<label> <count> |<bar>|'; "
                                         "a cut-off line?)", line_no - first_line))
                continue
            label = m.group(1)
            if label not in buckets:
                try:
                    buckets[label] = parse_label(label)
                except LabelError as exc:
                    rejected.append(Rejected(line_no, line, str(exc), line_no - first_line))
                    continue
            if entry is None:
                rejected.append(Rejected(line_no, line, "histogram row outside any entry: " + orphaned_by,
                                         line_no - first_line))
            elif label in entry.rows:
                rejected.append(Rejected(line_no, line, f"bucket {label} appears twice in the entry at line {entry.line}",
                                         line_no - first_line))
            else:
                entry.rows[label] = int(m.group(2))
            continue
        stripped = line.strip()
        if not stripped:
            entry = None
            orphaned_by = "it follows a blank line, not an entry header"
            continue
        if first == "@":
            entry = parse_header(stripped)
            if entry is None:
                reason = "unreadable entry header (expected @rd_client(machine,type)[user(role/affiliation)]:)"
                orphaned_by = f"it belongs to the unreadable entry header at line {line_no}"
            elif block.epoch is None:
                where = f"under the unreadable Log: line {first_line}" if block.anchor else "before the first Log: line"
                reason = f"entry header {where}"
                orphaned_by = f"it belongs to the entry header at line {line_no}, which has no readable Log: line"
                entry = None
            elif entry.key in keys:
                reason = f"entry {stripped} appears twice in the block of line {first_line}"
                orphaned_by = f"it belongs to the repeated entry header at line {line_no}"
                entry = None
            else:
                entry.line = line_no
                keys.add(entry.key)
                entries.append(entry)
                continue
            rejected.append(Rejected(line_no, line, reason, line_no - first_line))
            continue
        if m := _LOST_LINE.match(stripped):
            block.lost_events += int(m.group(1))
            continue
        if _ATTACHING_LINE.match(stripped):
            continue
        if stripped.startswith("Log:"):
            reason = "Log: line inside a block (readers split blocks at Log: lines; this one is malformed)"
        else:
            reason = "unrecognised line: not a Log: line, entry header, histogram row or bpftrace notice"
        rejected.append(Rejected(line_no, line, reason, line_no - first_line))
        entry = None
        orphaned_by = f"it follows the unreadable line {line_no}"
    block.end_line = line_no + 1
    if block.epoch is None and not block.rejected:
        return None
    return block


_BUCKETS: dict[str, Bucket] = {}


class LogParser:
    """Push-style parser for a growing input: feed lines one at a time; a `Log:` line returns the block it closed.
    Only the lines of the block in hand are kept."""

    def __init__(self, first_line: int = 1, first_offset: int | None = 0) -> None:
        self._lines: list[str] = []
        self._first_line = first_line
        self._start_offset = first_offset

    def feed(self, text: str, line_no: int, offset: int | None = None) -> Block | None:
        """Take one line (with or without its newline). Returns the block this line closed, if any."""
        closed = None
        if text.startswith("Log:"):
            closed = self._close(offset)
            self._first_line, self._start_offset = line_no, offset
        elif not self._lines:
            self._first_line, self._start_offset = line_no, offset
        self._lines.append(text)
        return closed

    def finish(self, end_offset: int | None = None, end_line: int | None = None) -> Block | None:
        """The block in hand, when the input is known to be complete. None if it holds nothing worth keeping."""
        return self._close(end_offset)

    @property
    def pending_lines(self) -> int:
        return len(self._lines)

    def _close(self, end_offset: int | None) -> Block | None:
        lines, self._lines = self._lines, []
        if not lines:
            return None
        block = parse_block_text("".join(line if line.endswith("\n") else line + "\n" for line in lines),
                                 self._first_line)
        if block is not None:
            block.start_offset, block.end_offset = self._start_offset, end_offset
        return block


def parse_lines(lines: Iterable[str], first_line: int = 1) -> Iterator[Block]:
    """Stream the blocks of an iterable of lines (a file object works). Ends with the last block: the input is complete."""
    parser = LogParser(first_line)
    for line_no, text in enumerate(lines, first_line):
        block = parser.feed(text, line_no)
        if block is not None:
            yield block
    last = parser.finish()
    if last is not None:
        yield last
