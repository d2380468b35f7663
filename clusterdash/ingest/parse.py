"""Pure parsing of io_usage.log: the text of one block in, a `Block` out. Imports nothing of the package but its
records (blocks.py) and the name rule (names.py), and does no I/O.

Readers cut the log into blocks at its `Log:` lines (ingest/read.py) and parse many at once through the batch
parser (ingest/fastparse.py); a block with anything unusual in it comes here, to `parse_block_bytes`, which reads
it line by line. Malformed lines never stop the parse and never move data between entries: each becomes a
`Rejected` record (line number, text, reason) inside the block where it occurred, and rows that follow an
unreadable header belong to no one and are rejected as well.

Bounds, so that no line can stop the ingest or make a total overflow (a line past them is rejected like any other):

* a histogram count is a whole number from 0 to MAX_COUNT = 2**32 - 1 (4,294,967,295). bpftrace counts are
  64-bit, but that is 8,000 times the largest row of the real month (528,438): 1.2 million operations a second,
  for a whole hour, from one client in one size bucket. Every total the database keeps (a session, a rollup, any
  SUM) adds up stored rows, so it stays below 2**63 for up to 2**31 rows at the bound: 1,400 years of a log that
  holds 1.5 million rows a year (the loader also refuses a block that would take the database's total past
  2**63 - 1: see ingest.refuse);
* a block's epoch is at most MAX_EPOCH (2**32 - 1, in 2106): every calendar computation on it stays in range;
* a bucket label's bounds have at most 20 digits; `Lost N events` counts up to MAX_COUNT;
* names (user, machine, machine type, role, affiliation) and the Log: line's wall-clock text follow the one name
  rule of ingest.names: at most 255 characters, no control or invisible formatting characters.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from clusterdash.ingest.blocks import Block, Bucket, Entry, Rejected
from clusterdash.ingest.names import unsafe_name

MAX_COUNT = 2**32 - 1  # operations in one histogram row (see the module's docstring)
MAX_EPOCH = 2**32 - 1  # 2106-02-07T06:28:15Z
_COUNT_DIGITS = len(str(MAX_COUNT))

_SUFFIX = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5, "E": 1024**6}
_NUMBER = r"(-?\d{1,20})([KMGTPE]?)"
_LABEL_NEGATIVE = re.compile(r"^\(\.\.\., " + _NUMBER + r"\)$")
_LABEL_EXACT = re.compile(r"^\[" + _NUMBER + r"\]$")
_LABEL_RANGE = re.compile(r"^\[" + _NUMBER + r", " + _NUMBER + r"\)$")
_LABEL_OPEN = re.compile(r"^\[" + _NUMBER + r", \.\.\.\)$")

LOG_LINE = re.compile(r"^Log: (\S[^()]{0,62}?) \((\d{1,12})\)$")
_LOST_LINE = re.compile(r"^Lost (\d+) events$")
_ATTACHING_LINE = re.compile(r"^Attaching \d+ probes?\.\.\.$")
_HEADER = re.compile(r"^@(rd|wr)_client\(([^,()\s]+),([^,()\s]+)\)\[([^\[\]()\s]+)(?:\(([^()]*)\))?\]:$")
_UNREADABLE_HEADER = "unreadable entry header (expected @rd_client(machine,type)[user(role/affiliation)]:)"
_HEADER_FIELDS = ("machine", "machine type", "user", "role", "affiliation")


class LabelError(ValueError):
    pass


def _number(digits: str, suffix: str) -> int:
    return int(digits) * _SUFFIX[suffix]


def shown(text: str, limit: int = 40) -> str:
    """A piece of a refused line for a reason: quoted (control characters escaped) and cut to `limit`."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text):,} characters)"


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
    raise LabelError(f"unknown bucket label {shown(label)}")


# A histogram row: the label ends at its closing ')' or ']' (long labels and 8-digit counts touch, so white space
# cannot be trusted as the separator), then the count, then bpftrace's bar (decoration).
_ROW = re.compile(r"^(\(\.\.\., -?\d+[KMGTPE]?\)|\[[^\])]*[\])])\s*(\d+)(?: *\|[^|]*\|)?\s*$")
# The same with anything in the count's place: to say what is wrong with a count that is not digits.
_ROW_ANY_COUNT = re.compile(r"^(\(\.\.\., -?\d+[KMGTPE]?\)|\[[^\])]*[\])])\s*([^\s|]+)(?: *\|[^|]*\|)?\s*$")
_NEGATIVE = re.compile(r"^-\d+$")
_UNREADABLE_ROW = "unreadable histogram row (expected '<label> <count> |<bar>|'; a cut-off line?)"


def parse_header(line: str) -> Entry | None:
    """An Entry (without rows) for an entry header line, or None when the line is not a readable header."""
    entry = read_header(line)
    return entry if isinstance(entry, Entry) else None


def read_header(line: str) -> Entry | str:
    """An Entry (without rows) for an entry header line, or why the line is refused: unreadable, or a name in it
    that ingest.names refuses."""
    m = _HEADER.match(line)
    if m is None:
        return _UNREADABLE_HEADER
    direction, machine, machine_type, user, status = m.groups()
    role, affiliation = parse_status(status)
    for field, name in zip(_HEADER_FIELDS, (machine, machine_type, user, role, affiliation)):
        problem = None if name is None else unsafe_name(name)
        if problem is not None:
            return f"entry header refused: its {field} name {problem}"
    return Entry(direction, machine, machine_type, user, role, affiliation, 0)


def read_log_line(line: str) -> tuple[int, str] | str:
    """(epoch, wall-clock text) of a `Log:` line (stripped), or why it is refused."""
    m = LOG_LINE.match(line)
    if m is None:
        return "unreadable Log: line (expected 'Log: <time> (<epoch seconds>)')"
    epoch, wallclock = int(m.group(2)), m.group(1)
    if epoch > MAX_EPOCH:
        return f"Log: line refused: its epoch {epoch} is after {MAX_EPOCH} (2106-02-07), the latest hour read"
    problem = unsafe_name(wallclock)
    if problem is not None:
        return f"Log: line refused: its time text {problem}"
    return epoch, wallclock


def read_count(digits: str) -> int | None:
    """The count of a row's digits; None when it is larger than MAX_COUNT (never converting a huge number)."""
    significant = digits.lstrip("0")
    if len(significant) > _COUNT_DIGITS:
        return None
    count = int(digits)
    return count if count <= MAX_COUNT else None


def count_problem(line: str, digits: str | None = None) -> str | None:
    """Why the count of a histogram row is refused: negative, not a whole number, or larger than MAX_COUNT (given
    the digits of a row that matched as a row); None when the line's trouble is elsewhere."""
    if digits is not None:
        if read_count(digits) is not None:
            return None
        shown = digits.lstrip("0") or "0"
        shown = shown if len(shown) <= 24 else f"of {len(shown):,} digits"
        return f"count {shown} is larger than {MAX_COUNT:,}, the most one histogram row can hold"
    m = _ROW_ANY_COUNT.match(line)
    if m is None:
        return None
    token = m.group(2)
    shown = repr(token) if len(token) <= 24 else f"{token[:24]!r}... ({len(token):,} characters)"
    if _NEGATIVE.match(token):
        return f"count {shown} is negative"
    return f"count {shown} is not a whole number"


def parse_status(status: str | None) -> tuple[str | None, str | None]:
    """'stud/tik' -> (stud, tik); 'unknown' -> (unknown, None); '' or absent -> (None, None)."""
    if not status:
        return None, None
    role, slash, affiliation = status.partition("/")
    return (role or None), (affiliation or None) if slash else None


def log_line_epoch(data: bytes) -> int | None:
    """The epoch of the `Log:` line that `data` starts with; None when it does not start with a readable one."""
    read = read_log_line(data.split(b"\n", 1)[0].decode("utf-8", "replace").strip())
    return read[0] if isinstance(read, tuple) else None


def parse_block_text(text: str, first_line: int) -> Block | None:
    """Parse one block: a `Log:` line and what follows it up to the next one (or, at the start of a file,
    whatever comes before the first `Log:` line). None for a block with nothing to keep. (Many blocks at once,
    faster: ingest.fastparse.parse_pieces.)

    A well-formed block (nearly all of them) takes a fast path that slices bpftrace's fixed columns; anything
    unusual sends the whole block to the line-by-line parser, which explains each bad line."""
    block = _parse_well_formed(text, first_line) or parse_block(_split_lines(text), first_line)
    if block is not None:
        block.digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
    return block


def parse_block_bytes(data: bytes, first_line: int) -> Block | None:
    """parse_block_text of bytes read from a file (undecodable bytes become U+FFFD)."""
    return parse_block_text(data.decode("utf-8", "replace"), first_line)


def _split_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _parse_well_formed(text: str, first_line: int) -> Block | None:
    head, _, body = text.partition("\n")
    log_line = read_log_line(head.strip())
    if isinstance(log_line, str):
        return None
    block = Block(*log_line, first_line, head.strip())
    keys = set()
    buckets = _BUCKETS
    line_no = first_line + 1
    for chunk in body.split("\n\n"):
        entry_line = line_no + len(chunk) - len(chunk.lstrip("\n"))
        line_no += chunk.count("\n") + 2
        chunk = chunk.strip("\n")
        if not chunk:
            continue
        header, _, rows_text = chunk.partition("\n")
        entry = parse_header(header.strip()) if header[:1] == "@" else None
        if entry is None or entry.key in keys:
            return None
        entry.line = entry_line
        keys.add(entry.key)
        if rows_text:
            entry.rows = rows = {}
            for row in rows_text.split("\n"):
                # bpftrace prints '%-16s%8d |bar|': slice its columns; anything else takes the general path.
                label = row[:16].rstrip()
                if label in buckets and row[24:26] == " |" and row[-1] == "|":
                    digits = row[16:24]
                else:
                    m = _ROW.match(row)
                    if m is None or not _known_label(m.group(1)):
                        return None
                    label, digits = m.group(1), m.group(2)
                if label in rows:
                    return None
                try:
                    count = int(digits)
                except ValueError:
                    return None
                if not 0 <= count <= MAX_COUNT:
                    return None
                rows[label] = count
        block.entries.append(entry)
    block.end_line = first_line + text.count("\n") + (0 if text.endswith("\n") else 1)
    return block


PRINTED_LABELS: dict[bytes, str | None] = {}  # a printed row's first 16 bytes -> its label (None: not valid)


def printed_label(raw: bytes) -> str | None:
    """The label in the 16-byte label column of a printed row, or None when it holds no valid label."""
    label = PRINTED_LABELS.get(raw, "")
    if label == "":
        text = raw.decode("ascii", "replace").rstrip()
        label = text if _known_label(text) else None
        if label is not None or len(PRINTED_LABELS) < 4096:  # garbage is remembered only while there is little
            PRINTED_LABELS[raw] = label
    return label


@lru_cache(maxsize=65536)
def header_fields(line: bytes) -> tuple | None:
    """(direction, machine, type, user, role, affiliation) of an entry header line; None if unreadable. Cached:
    the same few thousand headers come back every hour."""
    entry = parse_header(line.decode("utf-8", "replace").strip())
    if entry is None:
        return None
    return entry.direction, entry.machine, entry.machine_type, entry.user, entry.role, entry.affiliation


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
    log_line = read_log_line(head) if head.startswith("Log:") else None
    if isinstance(log_line, tuple):
        block = Block(*log_line, first_line, head)
        body_start = 1
    elif log_line is not None:
        block = Block(None, "", first_line, head)
        reason = f"{log_line}; its block is kept as rejected lines"
        block.rejected.append(Rejected(first_line, lines[0].rstrip("\r\n"), reason, 0))
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
                reason = count_problem(line) or _UNREADABLE_ROW
                rejected.append(Rejected(line_no, line, reason, line_no - first_line))
                continue
            label = m.group(1)
            if label not in buckets:
                try:
                    buckets[label] = parse_label(label)
                except LabelError as exc:
                    rejected.append(Rejected(line_no, line, str(exc), line_no - first_line))
                    continue
            count = read_count(m.group(2))
            if count is None:
                reason = count_problem(line, m.group(2)) or _UNREADABLE_ROW
                rejected.append(Rejected(line_no, line, reason, line_no - first_line))
            elif entry is None:
                rejected.append(
                    Rejected(line_no, line, "histogram row outside any entry: " + orphaned_by, line_no - first_line)
                )
            elif label in entry.rows:
                rejected.append(
                    Rejected(
                        line_no,
                        line,
                        f"bucket {label} appears twice in the entry at line {entry.line}",
                        line_no - first_line,
                    )
                )
            else:
                entry.rows[label] = count
            continue
        stripped = line.strip()
        if not stripped:
            entry = None
            orphaned_by = "it follows a blank line, not an entry header"
            continue
        if first == "@":
            header = read_header(stripped)
            entry = header if isinstance(header, Entry) else None
            if isinstance(header, str):
                reason = header
                orphaned_by = f"it belongs to the refused entry header at line {line_no}"
            elif block.epoch is None:
                where = f"under the rejected Log: line {first_line}" if block.anchor else "before the first Log: line"
                reason = f"entry header {where}"
                orphaned_by = f"it belongs to the entry header at line {line_no}, which has no readable Log: line"
                entry = None
            elif entry is not None and entry.key in keys:
                reason = f"entry {shown(stripped, 120)} appears twice in the block of line {first_line}"
                orphaned_by = f"it belongs to the repeated entry header at line {line_no}"
                entry = None
            elif entry is not None:
                entry.line = line_no
                keys.add(entry.key)
                entries.append(entry)
                continue
            rejected.append(Rejected(line_no, line, reason, line_no - first_line))
            continue
        if m := _LOST_LINE.match(stripped):
            lost = read_count(m.group(1))
            if lost is not None:
                block.lost_events += lost
                continue
            # Still an hour that under-counts: flagged, and the line kept.
            block.lost_events = max(1, block.lost_events)
            reason = f"lost-event count larger than {MAX_COUNT:,}; the hour is flagged as under-counted"
            rejected.append(Rejected(line_no, line, reason, line_no - first_line))
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
