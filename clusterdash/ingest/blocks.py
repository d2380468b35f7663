"""What the parser makes of the log: an hour (`Block`) with its histograms (`Entry`, or as columns `Histograms`),
the lines it could not read (`Rejected`), and a size bucket (`Bucket`). Plain records: no parsing, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple


class Bucket(NamedTuple):
    """A histogram bucket: sizes in [lower, upper). lower == upper: exactly that size ('[0]', '[1]');
    lower None: negative values; upper None: open-ended ('[8M, ...)')."""

    label: str
    lower: float | None
    upper: float | None


@dataclass(slots=True)
class Entry:
    """One histogram: the operations of one user on one client machine in one direction during the block's hour."""

    direction: str
    machine: str
    machine_type: str
    user: str
    role: str | None
    affiliation: str | None
    line: int
    rows: dict[str, int] = field(default_factory=dict)  # bucket label -> count (see parse.bucket_of); zeros kept

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.direction, self.machine, self.user)


@dataclass(slots=True)
class Rejected:
    """A line that is not valid data, kept for inspection.

    `ordinal`: its line's distance from the block's first line."""

    line: int
    text: str
    reason: str
    ordinal: int


@dataclass(slots=True)
class Block:
    """One hour of the log. epoch None: lines before the first `Log:` line, or under an unreadable one."""

    epoch: int | None
    wallclock: str
    line: int
    anchor: str  # the text that identifies the block across copies of the file: its Log: line
    end_line: int | None = None  # the first line after the block
    lost_events: int = 0
    digest: str | None = None  # of the block's text: an identical copy of a block has the same digest
    rejected: list[Rejected] = field(default_factory=list)
    source: bytes | None = None  # the block's bytes as read: its lines, should the loader refuse the block
    # The entries, either as Entry objects or (from the batch parser) as columns, made into Entry objects only
    # when someone asks for them: see `entries` and `columns`.
    _entries: list[Entry] | None = None
    histograms: Histograms | None = None

    @property
    def is_data(self) -> bool:
        return self.epoch is not None

    @property
    def entries(self) -> list[Entry]:
        if self._entries is None:
            self._entries = self.histograms.entries() if self.histograms is not None else []
            self.histograms = None  # the list may be changed from now on: it is the truth
        return self._entries

    @entries.setter
    def entries(self, entries: list[Entry]) -> None:
        self._entries, self.histograms = entries, None

    def columns(self) -> Histograms:
        """The entries as columns (without making Entry objects when the parser gave columns)."""
        if self._entries is None and self.histograms is not None:
            return self.histograms
        return Histograms.of(self.entries)


@dataclass(slots=True)
class Histograms:
    """A block's entries as columns, as the batch parser (ingest.fastparse) produces them, so that nothing is
    made per entry or per row in Python on the way to the database. Entry i has the header fields headers[i]
    (direction, machine, machine type, user, role, affiliation), starts at line lines[i], and its rows are
    labels/counts[bounds[i]:bounds[i + 1]].

    The batch parser gives the labels as codes instead: `codes` (an integer array, one per row) index `names`,
    the distinct labels of its whole batch (one list shared by its blocks), and `counts` is an integer array;
    the loader then turns a batch's labels into bucket ids once per distinct label, not once per row. Likewise
    `header_codes` index `header_names`, the batch's distinct header fields."""

    headers: list[tuple]
    lines: list[int]
    labels: list[str] | None
    counts: Sequence[int]
    bounds: list[int]
    totals: dict[str, int] | None = None  # operations per direction, when the parser summed them already
    codes: Any = None  # numpy array of label codes, with labels None
    names: list[str] | None = None
    header_codes: Any = None  # from the batch parser: headers[i] is header_names[header_codes[i]]
    header_names: list[tuple] | None = None

    def label_list(self) -> list[str]:
        return self.labels if self.labels is not None else [self.names[c] for c in self.codes.tolist()]

    def entries(self) -> list[Entry]:
        labels, bounds = self.label_list(), self.bounds
        counts = self.counts if isinstance(self.counts, list) else self.counts.tolist()
        return [
            Entry(*fields, line, dict(zip(labels[lo:hi], counts[lo:hi])))
            for fields, line, lo, hi in zip(self.headers, self.lines, bounds, bounds[1:])
        ]

    @classmethod
    def of(cls, entries: list[Entry]) -> Histograms:
        bounds = [0]
        for entry in entries:
            bounds.append(bounds[-1] + len(entry.rows))
        return cls(
            [(e.direction, e.machine, e.machine_type, e.user, e.role, e.affiliation) for e in entries],
            [e.line for e in entries],
            [label for e in entries for label in e.rows],
            [count for e in entries for count in e.rows.values()],
            bounds,
        )

    def operations(self) -> dict[str, int]:
        """Operations per direction."""
        if self.totals is not None:
            return self.totals
        totals = {"rd": 0, "wr": 0}
        counts, bounds = self.counts, self.bounds
        for fields, lo, hi in zip(self.headers, bounds, bounds[1:]):
            totals[fields[0]] += int(sum(counts[lo:hi]))
        return totals
