"""Many blocks parsed at once, with numpy: the ingest's fast path.

A month of log is about 130k histogram rows; a Python loop over them, however tight, costs more here than
storing them. bpftrace prints every row in fixed columns ('%-16s%8d |%-52s|': label in 0-15, count in 16-23,
' |' in 24-25, the bar, '|'), so the rows of a whole batch of blocks are read as one byte matrix: the lines
are classified, each row is tied to its entry header, and counts and labels are read by array operations.
Python runs once per block and once per entry header (cached: the same headers come back every hour).

The result is the same Block, with its entries as columns (parse.Histograms). Any block with anything
unusual in it (a bpftrace notice, a row of another width, a bad label, a repeated key, no Log: line...) is
handed whole to parse.parse_block_bytes, which reads it line by line and explains every bad line; a test
checks both paths give the same blocks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from clusterdash.ingest.blocks import Block, Histograms
from clusterdash.ingest.parse import MAX_COUNT, header_fields, parse_block_bytes, printed_label, read_log_line

ROW_WIDTH = 79
_LABEL_END, _COUNT_END = 16, 24
_CELLS = range(_COUNT_END + 2)  # label, count, ' |'
_DIGIT_VALUES = 10 ** np.arange(_COUNT_END - _LABEL_END - 1, -1, -1, dtype=np.int64)
_NEWLINE, _AT, _BRACKET, _PAREN, _SPACE, _PIPE, _ZERO, _NINE = b"\n@[( |09"


def parse_pieces(pieces: Sequence[tuple[bytes, int]]) -> list[Block | None]:
    """Parse blocks given as (bytes, number of their first line), as parse_block_bytes would one by one."""
    blocks: list[Block | None] = [None] * len(pieces)
    candidates = [
        i for i, (data, _) in enumerate(pieces) if data.startswith(b"Log:") and data.endswith(b"\n") and data.isascii()
    ]
    parsed = _parse_printed([pieces[i] for i in candidates]) if candidates else []
    for i, block in zip(candidates, parsed):
        blocks[i] = block
    done = {i for i, block in zip(candidates, parsed) if block is not None}
    for i, (data, first_line) in enumerate(pieces):
        if i not in done:
            blocks[i] = parse_block_bytes(data, first_line)
    for block, (data, _) in zip(blocks, pieces):
        if block is not None:
            block.source = data
    return blocks


class _Lines:
    """The lines of the joined blocks, classified; `bad` flags the blocks that must go line by line."""

    def __init__(self, pieces: list[tuple[bytes, int]]) -> None:
        self.data = b"".join(piece for piece, _ in pieces)
        self.buf = buf = np.frombuffer(self.data, dtype=np.uint8)
        sizes = np.fromiter((len(piece) for piece, _ in pieces), dtype=np.int64, count=len(pieces))
        self.block_starts = block_starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.ends = np.flatnonzero(buf == _NEWLINE)  # every piece ends with a newline
        self.starts = np.concatenate([[0], self.ends[:-1] + 1])
        self.block = np.searchsorted(block_starts, self.starts, side="right") - 1
        self.first_of_block = np.searchsorted(self.starts, block_starts)  # each block's Log: line
        self.lengths = self.ends - self.starts
        first = buf[self.starts]  # an empty line's first byte is its newline
        is_log = np.zeros(len(self.starts), dtype=bool)
        is_log[self.first_of_block] = True
        blank = self.lengths == 0
        self.header = (first == _AT) & ~is_log
        row = ((first == _BRACKET) | (first == _PAREN)) & ~is_log
        self.bad = np.zeros(len(pieces), dtype=bool)
        self.reject(self.block[~(blank | self.header | row | is_log)])  # a notice, a cut-off line, ...
        # A row belongs to the closest entry header above it, unless a blank or Log: line comes between them.
        index = np.arange(len(self.starts))
        last_header = np.maximum.accumulate(np.where(self.header, index, -1))
        last_separator = np.maximum.accumulate(np.where(blank | is_log, index, -1))
        self.rows = np.flatnonzero(row)
        self.owner = last_header[self.rows]  # the line of each row's entry header
        self.block_of_row = self.block[self.rows]
        self.orphan = self.owner <= last_separator[self.rows]
        self.reject(self.block_of_row[self.orphan])
        self.header_lines = np.flatnonzero(self.header)

    def reject(self, block_indexes: np.ndarray) -> None:
        self.bad[block_indexes] = True


def _read_rows(lines: _Lines) -> tuple[np.ndarray, list[str | None], np.ndarray]:
    """Label (as a code into the list of distinct labels also returned) and count of every row, rejecting the
    blocks whose rows are not as printed: 79 characters, '|' only as their two bars, the count right-aligned in
    its column, a valid label, no bucket twice in an entry."""
    buf, rows, block_of_row = lines.buf, lines.rows, lines.block_of_row
    lines.reject(block_of_row[lines.lengths[rows] != ROW_WIDTH])
    lines.reject(block_of_row[buf[lines.ends[rows] - 1] != _PIPE])
    pipes = np.diff(np.searchsorted(np.flatnonzero(buf == _PIPE), np.append(lines.block_starts, len(buf))))
    lines.reject(np.flatnonzero(pipes != 2 * np.bincount(block_of_row, minlength=len(pipes))))
    # Every row's first 26 bytes, through a sliding-window view of the buffer: a copy of those bytes only.
    windows = np.lib.stride_tricks.sliding_window_view(
        buf if len(buf) >= len(_CELLS) else np.pad(buf, (0, len(_CELLS))), len(_CELLS)
    )
    cells = windows[np.minimum(lines.starts[rows], len(windows) - 1)]
    digits = cells[:, _LABEL_END:_COUNT_END]
    is_digit = (digits >= _ZERO) & (digits <= _NINE)
    malformed = (
        (cells[:, _COUNT_END] != _SPACE)
        | (cells[:, _COUNT_END + 1] != _PIPE)
        | ~(is_digit | (digits == _SPACE)).all(axis=1)
        | ~is_digit[:, -1]
        | (is_digit[:, 1:] < is_digit[:, :-1]).any(axis=1)
    )
    lines.reject(block_of_row[malformed])
    counts = ((digits.astype(np.int64) - _ZERO) * is_digit) @ _DIGIT_VALUES
    lines.reject(block_of_row[counts > MAX_COUNT])  # unreachable with 8 digits; the bound is parse.py's to choose

    label_columns = np.ascontiguousarray(cells[:, :_LABEL_END])
    raw_labels = label_columns.view(f"S{_LABEL_END}").ravel()
    coded = distinct_rows(label_columns.view(np.uint64), HASH_BITS)
    if coded is not None:
        codes, first = coded
        distinct_raw = raw_labels[first].tolist()
    else:  # two different label columns share a hash slot: code them through a dict instead
        raw_list = raw_labels.tolist()
        distinct_raw = list(dict.fromkeys(raw_list))
        code_of_raw = {raw: code for code, raw in enumerate(distinct_raw)}
        codes = np.fromiter(map(code_of_raw.__getitem__, raw_list), np.int64, len(raw_list))
    labels = [printed_label(raw) for raw in distinct_raw]  # by code
    invalid = [code for code, label in enumerate(labels) if label is None]
    if invalid:
        lines.reject(block_of_row[np.isin(codes, invalid)])
    # A bucket twice in one entry (an orphan row has its own key: it is no one's, and its block is rejected).
    keys = np.where(lines.orphan, -1 - np.arange(len(rows)), lines.owner * len(distinct_raw) + codes)
    ordered = np.sort(keys)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if len(repeated):
        lines.reject(block_of_row[np.isin(keys, repeated)])
    return codes, labels, counts


HASH_BITS = 16  # a table of 65,536 slots
_MIX = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the high bits of the product spread nearby words apart


def distinct_rows(words: np.ndarray, bits: int = HASH_BITS) -> tuple[np.ndarray, np.ndarray] | None:
    """Equal rows of a 2-D uint64 array coded alike, without sorting: (code of each row, one row index per code),
    or None when two different rows fall into the same one of the 2**bits hash slots (the caller then codes them
    another way).

    Why: a batch's label column holds ~25 distinct values in ~25k rows; a dict lookup per row, or the sort inside
    np.unique, costs several times more than these few passes over the rows and a table of 2**bits entries."""
    mixed = np.zeros(len(words), dtype=np.uint64)
    for column in words.T:
        mixed = (mixed ^ column) * _MIX
    slot = (mixed >> np.uint64(64 - bits)).astype(np.int64)
    representative = np.zeros(1 << bits, dtype=np.int64)
    representative[slot] = np.arange(len(words))  # some row of each slot: which one does not matter
    if not (words == words[representative[slot]]).all():
        return None
    used = np.zeros(1 << bits, dtype=bool)
    used[slot] = True
    return (np.cumsum(used) - 1)[slot], representative[used]


def _read_headers(lines: _Lines) -> tuple[list[tuple | None], np.ndarray, list[tuple | None]]:
    """The fields of every entry header line, also as codes into the batch's distinct fields (returned too),
    rejecting the blocks with an unreadable or repeated one."""
    data = lines.data
    texts = [
        data[start:end]
        for start, end in zip(lines.starts[lines.header_lines].tolist(), lines.ends[lines.header_lines].tolist())
    ]
    # Coded by their text (a dict lookup per header): the same few hundred headers come back every hour. Two texts
    # can give the same fields (one with a trailing space): they share a key below, so a repeat is still seen.
    code_of = {text: code for code, text in enumerate(dict.fromkeys(texts))}
    codes = np.fromiter(map(code_of.__getitem__, texts), np.int64, len(texts))
    distinct = [header_fields(text) for text in code_of]
    fields = [distinct[code] for code in codes.tolist()]
    # The same (direction, machine, user) twice in a block, or an unreadable header: the block goes line by line.
    key_of: dict[tuple, int] = {}
    key_codes = np.array(
        [-1 if f is None else key_of.setdefault((f[0], f[1], f[3]), len(key_of)) for f in distinct], dtype=np.int64
    )
    blocks = lines.block[lines.header_lines]
    keys = key_codes[codes] if len(codes) else codes
    lines.reject(blocks[keys < 0])
    combined = (blocks * max(1, len(key_of)) + keys)[keys >= 0]
    ordered = np.sort(combined)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if len(repeated):
        lines.reject(blocks[keys >= 0][np.isin(combined, repeated)])
    return fields, codes, distinct


def _operations(
    lines: _Lines, fields: list[tuple | None], counts: np.ndarray, blocks: int
) -> tuple[list[int], list[int]]:
    """Operations read and written per block (a row's direction is its entry header's)."""
    if not len(lines.header_lines):
        return [0] * blocks, [0] * blocks
    header_is_write = np.array([f is not None and f[0] == "wr" for f in fields], dtype=bool)
    row_is_write = header_is_write[
        np.minimum(np.searchsorted(lines.header_lines, lines.owner), len(lines.header_lines) - 1)
    ]
    read, written = np.zeros(blocks, dtype=np.int64), np.zeros(blocks, dtype=np.int64)
    np.add.at(read, lines.block_of_row, counts * ~row_is_write)  # in integers: exact at any size
    np.add.at(written, lines.block_of_row, counts * row_is_write)
    return read.tolist(), written.tolist()


def _parse_printed(pieces: list[tuple[bytes, int]]) -> list[Block | None]:
    """The blocks as printed by bpftrace; None for each block that is not (the caller parses it line by line)."""
    lines = _Lines(pieces)
    codes, names, counts = _read_rows(lines)
    fields, header_codes, distinct_fields = _read_headers(lines)
    read, written = _operations(lines, fields, counts, len(pieces))
    header_lines = lines.header_lines
    row_bounds = np.searchsorted(lines.owner, header_lines).tolist() + [len(lines.rows)]
    header_range = np.searchsorted(lines.block[header_lines], np.arange(len(pieces) + 1)).tolist()
    row_range = np.searchsorted(lines.block_of_row, np.arange(len(pieces) + 1)).tolist()
    line_of_block = lines.first_of_block.tolist()
    next_block_line = line_of_block[1:] + [len(lines.starts)]
    bad = lines.bad.tolist()
    blocks: list[Block | None] = []
    for b, (piece, first_line) in enumerate(pieces):
        head = piece[: piece.index(b"\n")].decode().strip()
        log_line = None if bad[b] else read_log_line(head)
        if not isinstance(log_line, tuple):
            blocks.append(None)
            continue
        h0, h1, r0, r1 = header_range[b], header_range[b + 1], row_range[b], row_range[b + 1]
        offset = first_line - line_of_block[b]  # line index in the joined blocks -> line number in the file
        block = Block(
            *log_line,
            first_line,
            head,
            digest=hashlib.sha1(piece).hexdigest(),
            end_line=offset + next_block_line[b],
        )
        block.histograms = Histograms(
            fields[h0:h1],
            [offset + line for line in header_lines[h0:h1].tolist()],
            None,
            counts[r0:r1],
            [bound - r0 for bound in row_bounds[h0:h1]] + [r1 - r0],
            {"rd": read[b], "wr": written[b]},
            codes[r0:r1],
            names,
            header_codes[h0:h1],
            distinct_fields,
        )
        blocks.append(block)
    return blocks
