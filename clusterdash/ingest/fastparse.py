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
from typing import Optional, Sequence

import numpy as np

from clusterdash.ingest.parse import _LOG_LINE, Block, Histograms, header_fields, parse_block_bytes, printed_label

ROW_WIDTH = 79
_LABEL_END, _COUNT_END = 16, 24
_CELLS = range(_COUNT_END + 2)  # label, count, ' |'
_DIGIT_VALUES = 10 ** np.arange(_COUNT_END - _LABEL_END - 1, -1, -1, dtype=np.int64)
_NEWLINE, _AT, _BRACKET, _PAREN, _SPACE, _PIPE, _ZERO, _NINE = b"\n@[( |09"


def parse_pieces(pieces: Sequence[tuple[bytes, int]]) -> list[Optional[Block]]:
    """Parse blocks given as (bytes, number of their first line), as parse_block_bytes would one by one."""
    blocks: list[Optional[Block]] = [None] * len(pieces)
    candidates = [i for i, (data, _) in enumerate(pieces)
                  if data.startswith(b"Log:") and data.endswith(b"\n") and data.isascii()]
    parsed = _parse_printed([pieces[i] for i in candidates]) if candidates else []
    for i, block in zip(candidates, parsed):
        blocks[i] = block
    done = set(i for i, block in zip(candidates, parsed) if block is not None)
    for i, (data, first_line) in enumerate(pieces):
        if i not in done:
            blocks[i] = parse_block_bytes(data, first_line)
    return blocks


def _parse_printed(pieces: list[tuple[bytes, int]]) -> list[Optional[Block]]:
    """The blocks as printed by bpftrace; None for each block that is not (the caller parses it line by line)."""
    data = b"".join(piece for piece, _ in pieces)
    buf = np.frombuffer(data, dtype=np.uint8)
    sizes = np.fromiter((len(piece) for piece, _ in pieces), dtype=np.int64, count=len(pieces))
    block_starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    ends = np.flatnonzero(buf == _NEWLINE)  # every piece ends with a newline
    starts = np.concatenate([[0], ends[:-1] + 1])
    block_of_line = np.searchsorted(block_starts, starts, side="right") - 1
    first_line_of_block = np.searchsorted(starts, block_starts)
    lengths = ends - starts
    first = buf[starts]  # an empty line's first byte is its newline

    is_log = np.zeros(len(starts), dtype=bool)
    is_log[first_line_of_block] = True
    blank = lengths == 0
    header = (first == _AT) & ~is_log
    row = ((first == _BRACKET) | (first == _PAREN)) & ~is_log
    bad = np.zeros(len(pieces), dtype=bool)

    def reject(block_indexes: np.ndarray) -> None:
        bad[block_indexes] = True

    reject(block_of_line[~(blank | header | row | is_log)])  # a notice, a cut-off line, ...
    # A row belongs to the closest entry header above it, unless a blank or Log: line comes between them.
    index = np.arange(len(starts))
    last_header = np.maximum.accumulate(np.where(header, index, -1))
    last_separator = np.maximum.accumulate(np.where(blank | is_log, index, -1))
    row_lines = np.flatnonzero(row)
    owner = last_header[row_lines]
    block_of_row = block_of_line[row_lines]
    orphan = owner <= last_separator[row_lines]
    reject(block_of_row[orphan])

    # Rows as printed: 79 characters, '|' only as their two bars, the count right-aligned in its column.
    reject(block_of_row[lengths[row_lines] != ROW_WIDTH])
    reject(block_of_row[buf[ends[row_lines] - 1] != _PIPE])
    pipes = np.fromiter((piece.count(b"|") for piece, _ in pieces), dtype=np.int64, count=len(pieces))
    reject(np.flatnonzero(pipes != 2 * np.bincount(block_of_row, minlength=len(pieces))))
    # Every row's first 26 bytes, through a sliding-window view of the buffer: a copy of those bytes only.
    windows = np.lib.stride_tricks.sliding_window_view(
        buf if len(buf) >= len(_CELLS) else np.pad(buf, (0, len(_CELLS))), len(_CELLS))
    cells = windows[np.minimum(starts[row_lines], len(windows) - 1)]
    digits = cells[:, _LABEL_END:_COUNT_END]
    is_digit = (digits >= _ZERO) & (digits <= _NINE)
    malformed = ((cells[:, _COUNT_END] != _SPACE) | (cells[:, _COUNT_END + 1] != _PIPE)
                 | ~(is_digit | (digits == _SPACE)).all(axis=1) | ~is_digit[:, -1]
                 | (is_digit[:, 1:] < is_digit[:, :-1]).any(axis=1))
    reject(block_of_row[malformed])
    counts = ((digits.astype(np.int64) - _ZERO) * is_digit) @ _DIGIT_VALUES

    raw_labels = np.ascontiguousarray(cells[:, :_LABEL_END]).view(f"S{_LABEL_END}").ravel()
    raw_list = raw_labels.tolist()
    label_of_raw = {raw: printed_label(raw) for raw in set(raw_list)}
    invalid = [raw for raw, label in label_of_raw.items() if label is None]
    if invalid:
        reject(block_of_row[np.isin(raw_labels, invalid)])
    codes = {raw: code for code, raw in enumerate(label_of_raw)}
    # A bucket twice in one entry (an orphan row has its own key: it is no one's, and its block is rejected).
    keys = np.where(orphan, -1 - np.arange(len(owner)),
                    owner * len(codes) + np.fromiter(map(codes.__getitem__, raw_list), np.int64, len(raw_list)))
    ordered = np.sort(keys)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if len(repeated):
        reject(block_of_row[np.isin(keys, repeated)])

    header_lines = np.flatnonzero(header)
    fields = [header_fields(data[start:end]) for start, end in zip(starts[header_lines].tolist(),
                                                                    ends[header_lines].tolist())]
    block_of_header = block_of_line[header_lines].tolist()
    seen = set()
    for block_index, f in zip(block_of_header, fields):
        if f is None:
            bad[block_index] = True
            continue
        key = (block_index, f[0], f[1], f[3])
        if key in seen:  # the same (direction, machine, user) twice in a block
            bad[block_index] = True
        seen.add(key)

    # Operations per block and direction (a row's direction is its entry header's).
    header_is_write = np.array([f is not None and f[0] == "wr" for f in fields], dtype=bool)
    row_is_write = header_is_write[np.minimum(np.searchsorted(header_lines, owner), max(len(header_lines) - 1, 0))] \
        if len(header_lines) else np.zeros(len(owner), dtype=bool)
    written = np.bincount(block_of_row, weights=counts * row_is_write, minlength=len(pieces)).astype(np.int64).tolist()
    read = np.bincount(block_of_row, weights=counts * ~row_is_write, minlength=len(pieces)).astype(np.int64).tolist()

    labels = list(map(label_of_raw.__getitem__, raw_list))
    counts = counts.tolist()
    row_bounds = np.searchsorted(owner, header_lines).tolist() + [len(row_lines)]
    header_range = np.searchsorted(block_of_line[header_lines], np.arange(len(pieces) + 1)).tolist()
    row_range = np.searchsorted(block_of_row, np.arange(len(pieces) + 1)).tolist()
    line_of_block = first_line_of_block.tolist()
    next_block_line = line_of_block[1:] + [len(starts)]
    bad = bad.tolist()
    blocks: list[Optional[Block]] = []
    for b, (piece, first_line) in enumerate(pieces):
        if bad[b]:
            blocks.append(None)
            continue
        head = piece[:piece.index(b"\n")].decode().strip()
        m = _LOG_LINE.match(head)
        if m is None:
            blocks.append(None)
            continue
        h0, h1, r0 = header_range[b], header_range[b + 1], row_range[b]
        offset = first_line - line_of_block[b]  # global line index -> line number in the file
        block = Block(int(m.group(2)), m.group(1), first_line, head, digest=hashlib.sha1(piece).hexdigest(),
                      end_line=offset + next_block_line[b])
        block.histograms = Histograms(fields[h0:h1], [offset + line for line in header_lines[h0:h1].tolist()],
                                      labels[r0:row_range[b + 1]], counts[r0:row_range[b + 1]],
                                      [bound - r0 for bound in row_bounds[h0:h1]] + [row_range[b + 1] - r0],
                                      {"rd": read[b], "wr": written[b]})
        blocks.append(block)
    return blocks
