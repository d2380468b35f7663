"""Judging one rule at some hours: for which subjects it holds, with what value, against what limit. Pure numpy over
the rows db/alerts/hourly.py reads; rules.py says what a rule means, and this is that meaning in arrays:

* rows are kept by the rule's direction and filters, and grouped by subject (a user, a machine, a pair, a machine
  type, a role, the server); a role or machine type is the user's or machine's current one, as in the dashboard;
* per subject and hour: the measure's hourly figures on an axis of every hour from the earliest one needed (the
  window's first hour, weeks before for a baseline) to the last hour judged, hours the log lacks included (a
  window is then a slice, a week earlier a fixed shift);
* a `sum` window adds its hours (a share divides the sums, machines counts the distinct ones); a `sustained`
  window takes the smallest hourly value, and holds only when the log has every hour of it;
* a baseline compares with the median of the same window 1..weeks weeks earlier, counting only weeks the log
  holds whole and that begin after the subject was first seen; too few such weeks and it does not hold.

Subjects are judged in chunks so that a chunk's matrices stay small (CELLS) whatever the number of subjects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from clusterdash.alerts.rules import Above, Rule, SizeRange, Subject
from clusterdash.db.alerts.hourly import Bucket, Directory, HourRows, merged
from clusterdash.db.periods import HOUR
from clusterdash.db.schema import DIRECTIONS

WEEK_HOURS = 7 * 24
CELLS = 2_000_000  # subject x hour cells per chunk (each matrix of a chunk: 16 MB at most)
MAX_NAMES = 20  # users and machines named in an alert, largest first
FEW_WINDOWS = 16  # up to this many windows are summed slice by slice, more through running totals


@dataclass(frozen=True)
class Holding:
    """A rule holding for a subject at an hour."""

    hour: int  # the hour judged (start, UTC epoch)
    subject: Subject
    value: float
    limit: float  # what the value had to pass: the threshold, or max(factor x median, floor)
    baseline: float | None  # a baseline rule's median
    since: int  # the first hour of the window
    users: tuple[str, ...] = ()  # who, largest first
    machines: tuple[str, ...] = ()  # where, largest first


def reach(rule: Rule) -> int:
    """How many hours before an hour judged its judgement reads (its window, and the weeks of a baseline)."""
    weeks = 0 if isinstance(rule.condition, Above) else rule.condition.weeks
    return rule.window.hours - 1 + weeks * WEEK_HOURS


def hours_needed(rule: Rule, targets: Iterable[int]) -> list[tuple[int, int]]:
    """The [first, end) hour ranges whose rows judging `targets` reads."""
    w = rule.window.hours
    weeks = 0 if isinstance(rule.condition, Above) else rule.condition.weeks
    ends = np.asarray(sorted(set(targets)), dtype=np.int64) + HOUR
    shifted = np.concatenate([ends - k * WEEK_HOURS * HOUR for k in range(weeks + 1)])
    return merged(zip((shifted - w * HOUR).tolist(), shifted.tolist()))


def bucket_ids(sizes: SizeRange, buckets: Sequence[Bucket]) -> list[int]:
    """The stored buckets lying wholly inside a rule's size range."""
    return [b.id for b in buckets if sizes.contains(b.lower, b.upper)]


def judge(
    rule: Rule,
    rows: HourRows,
    logged: np.ndarray,
    names: Directory,
    targets: Iterable[int],
    explain: bool = True,
) -> list[Holding]:
    """Where `rule` holds at each of `targets` (hours the log holds). `rows`: the IO of every hour the judgement
    reads (hours_needed), from the sessions, or for a rule with sizes the histogram rows of its buckets; `logged`:
    the hours the log holds over the same span. explain: name the users and machines of each holding."""
    logged = np.asarray(logged, dtype=np.int64)
    wanted = np.unique(np.asarray(list(targets), dtype=np.int64))
    wanted = wanted[np.isin(wanted, logged)]
    if not len(wanted):
        return []
    first = int(wanted[0]) - reach(rule) * HOUR
    width = (int(wanted[-1]) - first) // HOUR + 1
    in_log = np.zeros(width, dtype=bool)
    at = (logged - first) // HOUR
    in_log[at[(at >= 0) & (at < width)]] = True
    rows = _kept(rule, rows, names, first, width)
    index, subjects, first_seen = _subjects(rule, rows, names)
    if not subjects:
        return []
    order = np.argsort(index, kind="stable")
    bounds = np.searchsorted(index[order], np.arange(len(subjects) + 1))
    chunk = max(1, CELLS // width)
    found: list[Holding] = []
    for lo in range(0, len(subjects), chunk):
        hi = min(len(subjects), lo + chunk)
        picked = rows.take(order[bounds[lo] : bounds[hi]])
        local = index[order[bounds[lo] : bounds[hi]]] - lo
        found += _judge_chunk(
            rule, picked, local, subjects[lo:hi], first_seen[lo:hi], names, first, width, in_log, wanted, explain
        )
    return sorted(found, key=lambda h: (h.hour, h.subject.key))


# -- rows and subjects ---------------------------------------------------------------------------------------------


def _kept(rule: Rule, rows: HourRows, names: Directory, first: int, width: int) -> HourRows:
    """The rows inside the hours judged, of the rule's direction, through its filters."""
    keep = (rows.hour >= first) & (rows.hour < first + width * HOUR)
    if rule.measure.direction != "both":
        keep &= rows.direction == DIRECTIONS.index(rule.measure.direction)
    kept = rule.filters
    if kept.roles or kept.exclude_users:
        ids, inverse = np.unique(rows.user, return_inverse=True)
        ok = np.ones(len(ids), dtype=bool)
        if kept.roles:
            ok &= np.asarray([names.user_roles.get(int(i)) in kept.roles for i in ids], dtype=bool)
        if kept.exclude_users:
            ok &= np.asarray([names.user_names.get(int(i)) not in kept.exclude_users for i in ids], dtype=bool)
        keep &= ok[inverse]
    if kept.machine_types:
        ids, inverse = np.unique(rows.machine, return_inverse=True)
        keep &= np.asarray([names.machine_types.get(int(i)) in kept.machine_types for i in ids], dtype=bool)[inverse]
    return rows.take(keep)


def _labels(values: np.ndarray, table: Mapping[int, str | None]) -> tuple[np.ndarray, list[str]]:
    """A code per row for the name `table` gives each id (a role, a machine type; -1 for none), and the names."""
    ids, inverse = np.unique(values, return_inverse=True)
    labels = [table.get(int(i)) for i in ids]
    distinct = sorted({label for label in labels if label is not None})
    code = {label: n for n, label in enumerate(distinct)}
    per_id = np.asarray([-1 if label is None else code[label] for label in labels], dtype=np.int64)
    return per_id[inverse], distinct


def _subjects(rule: Rule, rows: HourRows, names: Directory) -> tuple[np.ndarray, list[Subject], np.ndarray]:
    """(a subject index per row, the subjects, the hour each subject was first seen): a user's or machine's first
    block, a pair's later of the two, a role's or machine type's first member, the server's first user. A row of
    no subject (a user without a role, for a rule about roles) gets the index len(subjects)."""
    kind, never = rule.subject, np.iinfo(np.int64).max
    if kind in ("role", "machine_type"):
        table, first = (
            (names.user_roles, names.role_first) if kind == "role" else (names.machine_types, names.type_first)
        )
        keys, labels = _labels(rows.user if kind == "role" else rows.machine, table)
    elif kind == "server":
        keys = np.zeros(len(rows), dtype=np.int64)
    elif kind == "user_machine":
        span = int(rows.machine.max()) + 1 if len(rows) else 1
        keys = rows.user * span + rows.machine
    else:
        keys = rows.user if kind == "user" else rows.machine
    unique, index = np.unique(keys, return_inverse=True)
    if len(unique) and unique[0] < 0:  # rows of no subject: past the last one
        unique, index = unique[1:], np.where(index == 0, len(unique) - 1, index - 1)
    subjects: list[Subject] = []
    seen: list[int | None] = []
    for key in unique.tolist():
        if kind == "user":
            subjects.append(Subject("user", user=names.user_names[key]))
            seen.append(names.user_first.get(key))
        elif kind == "machine":
            subjects.append(Subject("machine", machine=names.machine_names[key]))
            seen.append(names.machine_first.get(key))
        elif kind == "user_machine":
            user, machine = divmod(key, span)
            subjects.append(Subject("user_machine", user=names.user_names[user], machine=names.machine_names[machine]))
            hours = (names.user_first.get(user), names.machine_first.get(machine))
            seen.append(None if None in hours else max(h for h in hours if h is not None))
        elif kind == "server":
            subjects.append(Subject("server"))
            seen.append(names.server_first)
        else:
            subjects.append(Subject(kind, **{kind: labels[key]}))
            seen.append(first.get(labels[key]))
    first_seen = np.asarray([never if h is None else h for h in seen], dtype=np.int64)
    return index.astype(np.int64), subjects, first_seen


# -- one chunk of subjects ------------------------------------------------------------------------------------------


def _matrix(local: np.ndarray, column: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """values summed into a (subjects, hours) matrix."""
    flat = np.bincount(local * shape[1] + column, weights=values, minlength=shape[0] * shape[1])
    return flat.reshape(shape)


class _Windows:
    """Sums and minimums over windows of `w` hours of one (subjects, hours) matrix, each window given by the column
    of its last hour (every column >= w - 1). A few windows (an hour arriving) are summed slice by slice; many (a
    replay) from running totals, made once per matrix."""

    def __init__(self, matrix: np.ndarray, w: int) -> None:
        self.matrix, self.w = matrix, w
        self._running: np.ndarray | None = None

    def sums(self, columns: np.ndarray) -> np.ndarray:
        w, matrix = self.w, self.matrix
        if w == 1:
            return matrix[:, columns]
        if len(columns) <= FEW_WINDOWS:
            return np.stack([matrix[:, c + 1 - w : c + 1].sum(axis=1) for c in columns.tolist()], axis=1)
        if self._running is None:
            self._running = np.zeros((matrix.shape[0], matrix.shape[1] + 1))
            np.cumsum(matrix, axis=1, out=self._running[:, 1:])
        return self._running[:, columns + 1] - self._running[:, columns + 1 - w]

    def mins(self, columns: np.ndarray) -> np.ndarray:
        if self.w == 1:
            return self.matrix[:, columns]
        windows = np.lib.stride_tricks.sliding_window_view(self.matrix, self.w, axis=1)  # no copy
        return windows[:, columns - (self.w - 1), :].min(axis=2)


def _judge_chunk(
    rule: Rule,
    rows: HourRows,
    local: np.ndarray,
    subjects: Sequence[Subject],
    seen: np.ndarray,
    names: Directory,
    first: int,
    width: int,
    in_log: np.ndarray,
    wanted: np.ndarray,
    explain: bool,
) -> list[Holding]:
    count, w, kind = len(subjects), rule.window.hours, rule.measure.kind
    sustained = rule.window.mode == "sustained"
    column = (rows.hour - first) // HOUR
    shape = (count, width)
    operations = _matrix(local, column, rows.operations, shape)  # min_operations counts these
    guard = _Windows(operations, w)
    if kind == "machines":
        per_pair = _pairs(rows, local, column, count, width)
    elif kind == "small_share" and sustained:
        with np.errstate(divide="ignore", invalid="ignore"):
            small = _matrix(local, column, rows.small, shape)
            num = _Windows(np.where(operations > 0, small / np.where(operations > 0, operations, 1), 0.0), w)
    else:
        numerator = {"operations": rows.operations, "bytes": rows.bytes}.get(kind, rows.small)
        num = guard if kind == "operations" else _Windows(_matrix(local, column, numerator, shape), w)
    logged = _Windows(in_log[None, :].astype(float), w)

    def values_at(columns: np.ndarray) -> np.ndarray:
        if kind == "machines":
            return per_pair(columns, w, sustained)
        if kind == "small_share" and not sustained:
            small, total = num.sums(columns), guard.sums(columns)
            return np.where(total > 0, small / np.where(total > 0, total, 1), 0.0)
        return num.mins(columns) if sustained else num.sums(columns)

    def whole(columns: np.ndarray) -> np.ndarray:
        return logged.sums(columns)[0] == w

    targets = (wanted - first) // HOUR
    value = values_at(targets)
    holds = guard.sums(targets) >= rule.min_operations
    if sustained:
        holds &= whole(targets)[None, :]
    median = None
    condition = rule.condition
    if isinstance(condition, Above):
        limit = np.full(value.shape, float(condition.value))
        holds &= value > condition.value
    else:
        history = np.full((count, len(targets), condition.weeks), np.nan)
        for k in range(1, condition.weeks + 1):
            earlier = targets - k * WEEK_HOURS
            ok = whole(earlier)[None, :] & (seen[:, None] <= first + (earlier[None, :] - (w - 1)) * HOUR)
            history[:, :, k - 1] = np.where(ok, values_at(earlier), np.nan)
        enough = np.sum(~np.isnan(history), axis=2) >= condition.min_weeks
        median = np.where(enough, _median(history), np.nan)
        limit = np.maximum(condition.factor * np.nan_to_num(median), condition.floor)
        holds &= enough & (value > condition.factor * np.nan_to_num(median)) & (value >= condition.floor)
    found = []
    for s, t in zip(*np.nonzero(holds)):
        hour = int(wanted[t])
        users, machines = _involved(rows, local == s, column, int(targets[t]), w, names) if explain else ((), ())
        found.append(
            Holding(
                hour=hour,
                subject=subjects[s],
                value=float(value[s, t]),
                limit=float(limit[s, t]),
                baseline=None if median is None else float(median[s, t]),
                since=hour - (w - 1) * HOUR,
                users=users,
                machines=machines,
            )
        )
    return found


def _median(values: np.ndarray) -> np.ndarray:
    """The median over the last axis, NaN left out (np.nanmedian, without its cost on small arrays); NaN where all
    are NaN."""
    ordered = np.sort(values, axis=-1)  # NaN last
    count = np.sum(~np.isnan(values), axis=-1)
    low = np.take_along_axis(ordered, np.maximum(count - 1, 0)[..., None] // 2, axis=-1)[..., 0]
    high = np.take_along_axis(ordered, (count // 2)[..., None], axis=-1)[..., 0] if values.shape[-1] else low
    return np.where(count > 0, (low + np.where(count % 2, low, high)) / 2, np.nan)


def _pairs(rows: HourRows, local: np.ndarray, column: np.ndarray, count: int, width: int):
    """For the machines measure: a function of (columns, w, sustained) giving, per user subject, the distinct
    machines with IO in each window (sum) or the fewest in any hour of it (sustained)."""
    active = rows.operations > 0
    pair_key = local[active] * (int(rows.machine.max()) + 1 if len(rows) else 1) + rows.machine[active]
    pairs, pair_index = np.unique(pair_key, return_inverse=True)
    owner = pairs // (int(rows.machine.max()) + 1 if len(rows) else 1)
    present = np.zeros((len(pairs), width))
    present[pair_index, column[active]] = 1.0

    def values(columns: np.ndarray, w: int, sustained: bool) -> np.ndarray:
        out = np.zeros((count, len(columns)))
        if sustained:
            hourly = np.zeros((count, width))
            np.add.at(hourly, owner, present)
            return _Windows(hourly, w).mins(columns)
        np.add.at(out, owner, (_Windows(present, w).sums(columns) > 0).astype(float))
        return out

    return values


def _involved(
    rows: HourRows, mine: np.ndarray, column: np.ndarray, target: int, w: int, names: Directory
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The users and the machines of a subject's rows in the window ending at column `target`, by operations."""
    pick = mine & (column > target - w) & (column <= target)
    found = []
    for ids, table in ((rows.user[pick], names.user_names), (rows.machine[pick], names.machine_names)):
        totals: dict[int, float] = {}
        for i, ops in zip(ids.tolist(), rows.operations[pick].tolist()):
            totals[i] = totals.get(i, 0.0) + ops
        ranked = sorted(totals, key=lambda i: (-totals[i], table.get(i, "")))
        found.append(tuple(table[i] for i in ranked[:MAX_NAMES] if i in table))
    return found[0], found[1]
