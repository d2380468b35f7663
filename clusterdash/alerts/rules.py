"""Alert rules as typed values: what is measured, over which window, against which condition, about whom, and who
is told. `rulefile.py` reads and validates them from TOML; this module holds the model, its defaults, the words a
person reads for a rule, its plain-data form (the TOML keys again: the read-only view and the round trip), and the
identity of an alert (a rule and a subject) that alert state is keyed by.

What a rule means, for the evaluation that reads the rollups:
- The subject is what one alert is about: each user, each machine, each (user, machine) pair, each machine type,
  each role, or the server as a whole.
- The measure is summed over the subject's rows for each hour: operations, estimated bytes (count x bucket
  midpoint, db/sizes.py), small-IO operations (buckets wholly at or below db/sizes.SMALL_IO_LIMIT), the small-IO
  share (small operations / operations, 0..1), or the number of machines a user had IO on. `direction` keeps reads
  or writes only; `sizes` keeps the buckets lying wholly inside a range.
- The window is the `hours` that end with the hour judged. Mode `sum`: the measure over the window as a whole (a
  share is the share of the window's totals, machines the distinct machines in it). Mode `sustained`: the smallest
  of the hourly values, so every hour must pass; an hour missing from the log breaks the window (no data is not
  evidence of IO), and the rule does not fire.
- The condition is a threshold (`Above`: the value is strictly above it) or a `Baseline`: the value is above
  factor x the median of the same window one, two, ... `weeks` weeks earlier, and at least `floor`. A week counts
  as history when the log holds that whole window and the subject had already been seen by then (in such a week a
  subject without rows counts 0); with fewer than `min_weeks` such weeks the rule does not fire for that subject:
  too little history to call anything unusual (a gap in the log, or a user new to the cluster).
- Filters narrow the rows before anything is summed: only these roles, only these machine types, never these users.
- `min_operations` skips subjects with fewer operations in the window (counted like the measure's rows: same
  direction, sizes and filters; every size for the small-IO share), so a share or a baseline is not judged on a
  handful of operations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from clusterdash.db import sizes
from clusterdash.db.periods import DAY, HOUR
from clusterdash.db.schema import DIRECTIONS as STORED_DIRECTIONS

# What a rule may say. The first of each tuple-valued field's choices is not a default unless stated below.
SUBJECT_FIELDS: dict[str, tuple[str, ...]] = {
    "user": ("user",),
    "machine": ("machine",),
    "user_machine": ("user", "machine"),
    "machine_type": ("machine_type",),
    "role": ("role",),
    "server": (),
}
SUBJECTS = tuple(SUBJECT_FIELDS)
USER_SUBJECTS = ("user", "user_machine")  # subjects that name a user, who can be told
MEASURES = ("operations", "bytes", "small_operations", "small_share", "machines")
SMALL_MEASURES = ("small_operations", "small_share")
DIRECTIONS = (*STORED_DIRECTIONS, "both")
MODES = ("sum", "sustained")
SEVERITIES = ("info", "warning", "critical")
RECIPIENTS = ("admins", "user", "both")
BASELINE_KINDS = ("median_same_hour_of_week",)

DEFAULT_COOLDOWN = 6 * HOUR
MAX_WINDOW = 7 * DAY
MAX_COOLDOWN = 30 * DAY
MAX_WEEKS = 52

_UNITS = {"d": DAY, "h": HOUR, "m": 60}


def parse_duration(text: Any) -> int:
    """Seconds in a duration written as a whole number and one unit: '90m', '6h', '2d'. ValueError otherwise."""
    value = text.strip() if isinstance(text, str) else ""
    number, unit = value[:-1], value[-1:]
    if not (number.isdigit() and number.isascii() and len(number) <= 6 and unit in _UNITS):
        raise ValueError(f"cannot read {text!r} as a duration (a whole number and m, h or d, such as 90m, 6h, 2d)")
    return int(number) * _UNITS[unit]


def format_duration(seconds: int) -> str:
    """The shortest text parse_duration reads back as `seconds` (whole minutes): 5400 -> '90m', 7200 -> '2h'."""
    for unit, size in _UNITS.items():
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds // 60}m"


def size_bytes(token: str) -> int:
    """Bytes a size token names, written as the log writes a bucket's bound (K = 1024, ...): '4K' -> 4096.
    ValueError otherwise."""
    amount = sizes.logged_amount(token) if isinstance(token, str) else None
    if amount is None:
        raise ValueError(f"cannot read {token!r} as a size (a whole number with K, M, G, T, P or E, such as 4K)")
    return amount


@dataclass(frozen=True)
class SizeRange:
    """Size buckets from `first` up to below `below` (None: no upper limit), as written ('4K', '64K')."""

    first: str
    below: str | None = None

    @property
    def low(self) -> int:
        return size_bytes(self.first)

    @property
    def high(self) -> int | None:
        return None if self.below is None else size_bytes(self.below)

    def contains(self, lower: float | None, upper: float | None) -> bool:
        """Whether a bucket [lower, upper) lies wholly inside (lower None: negative sizes; upper None: open)."""
        if lower is None or lower < self.low:
            return False
        high = self.high
        if high is None:
            return True
        if upper is None:
            return False
        return upper < high if upper == lower else upper <= high  # an exact bucket ('[1]') is one size

    def text(self) -> str:
        return f"from {self.first} up" if self.below is None else f"from {self.first} to below {self.below}"


@dataclass(frozen=True)
class Measure:
    kind: str  # one of MEASURES
    direction: str = "both"  # rd, wr or both
    sizes: SizeRange | None = None  # None: every bucket


@dataclass(frozen=True)
class Window:
    hours: int = 1
    mode: str = "sum"  # sum, or sustained: the minimum over the hours, all of which must be in the log


@dataclass(frozen=True)
class Above:
    """Fires when the value is strictly above `value`."""

    value: float


@dataclass(frozen=True)
class Baseline:
    """Fires when the value is above factor x the subject's median of the same window over the last `weeks` weeks,
    and at least `floor`; not at all with fewer than `min_weeks` weeks of history."""

    factor: float
    floor: float
    weeks: int = 4
    min_weeks: int = 2
    of: str = "median_same_hour_of_week"


Condition = Above | Baseline


@dataclass(frozen=True)
class RuleFilters:
    """Rows kept before summing; empty means all."""

    roles: tuple[str, ...] = ()
    machine_types: tuple[str, ...] = ()
    exclude_users: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    name: str  # unique in its file: letters, digits, '.', '_' and '-'
    subject: str  # one of SUBJECTS
    measure: Measure
    condition: Condition
    window: Window = field(default_factory=Window)
    filters: RuleFilters = field(default_factory=RuleFilters)
    severity: str = "warning"
    cooldown: int = DEFAULT_COOLDOWN  # seconds after an alert resolves before the same one may fire again
    recipients: str = "admins"  # admins, user (the subject user) or both
    min_operations: int = 0  # judge only subjects with at least this many operations in the window (noise guard)
    description: str = ""
    enabled: bool = True

    @property
    def tells_admins(self) -> bool:
        return self.recipients in ("admins", "both")

    @property
    def tells_user(self) -> bool:
        return self.recipients in ("user", "both")


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    source: str = "rules"  # the file it came from, for messages

    def enabled(self) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.enabled)

    def get(self, name: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.name == name), None)


@dataclass(frozen=True)
class Subject:
    """What one alert is about: the names its kind needs (SUBJECT_FIELDS), the others None."""

    kind: str
    user: str | None = None
    machine: str | None = None
    machine_type: str | None = None
    role: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in SUBJECT_FIELDS:
            raise ValueError(f"unknown subject kind {self.kind!r}")
        needed = SUBJECT_FIELDS[self.kind]
        for name in ("user", "machine", "machine_type", "role"):
            if (getattr(self, name) is not None) != (name in needed):
                raise ValueError(f"a {self.kind} subject {'needs' if name in needed else 'has no'} {name}")

    def names(self) -> dict[str, str]:
        """The subject's names by field, in SUBJECT_FIELDS order."""
        return {name: getattr(self, name) for name in SUBJECT_FIELDS[self.kind]}

    @property
    def key(self) -> str:
        """A stable text identity: 'user=alice', 'user=alice&machine=tik01', 'server'; names percent-encoded."""
        return "&".join(f"{name}={quote(value, safe='')}" for name, value in self.names().items()) or "server"

    def text(self) -> str:
        """For people: 'user alice', 'user alice on machine tik01', 'the whole server'."""
        if self.kind == "server":
            return "the whole server"
        if self.kind == "user_machine":
            return f"user {self.user} on machine {self.machine}"
        return " ".join(f"{name.replace('_', ' ')} {value}" for name, value in self.names().items())


def alert_key(rule: Rule, subject: Subject) -> str:
    """The identity of the alert a rule raises about a subject ('rule-name/user=alice'): alert state is keyed by it.
    It stays the same when the rule's threshold or window is edited, so an open alert and its cooldown carry over."""
    if subject.kind != rule.subject:
        raise ValueError(f"rule {rule.name!r} is about {rule.subject}, not {subject.kind}")
    return f"{rule.name}/{subject.key}"


# --- words for people ------------------------------------------------------------------------------------------


def number_text(value: float) -> str:
    """2000000 -> '2,000,000'; 0.25 -> '0.25'."""
    if math.isfinite(value) and float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.4g}" if abs(value) >= 1 else f"{value:.4g}"


def measure_text(measure: Measure) -> str:
    """'small read operations (at most 4 KiB)', 'estimated bytes written from 4K to below 64K', ..."""
    verb = {"rd": "read ", "wr": "write ", "both": ""}[measure.direction]
    text = {
        "operations": f"{verb}operations",
        "bytes": "estimated bytes " + {"rd": "read", "wr": "written", "both": "moved"}[measure.direction],
        "small_operations": f"small {verb}operations (at most 4 KiB)",
        "small_share": f"share of small {verb}operations (at most 4 KiB)",
        "machines": "machines with " + {"rd": "reads", "wr": "writes", "both": "IO"}[measure.direction],
    }[measure.kind]
    return text if measure.sizes is None else f"{text} in buckets {measure.sizes.text()}"


def window_text(window: Window) -> str:
    if window.hours == 1:
        return "in one hour"
    if window.mode == "sustained":
        return f"in each of {window.hours} consecutive hours"
    return f"over {window.hours} hours"


def condition_text(condition: Condition) -> str:
    if isinstance(condition, Above):
        return f"above {number_text(condition.value)}"
    return (
        f"above {number_text(condition.factor)}x its median for this hour of the week over the last "
        f"{condition.weeks} weeks and at least {number_text(condition.floor)} "
        f"(needs {condition.min_weeks} of those weeks in the log)"
    )


_SUBJECT_WORDS = {
    "user": "a user's",
    "machine": "a machine's",
    "user_machine": "a user's on one machine",
    "machine_type": "a machine type's",
    "role": "a role's",
    "server": "the server's",
}


def describe(rule: Rule) -> str:
    """One line: "a user's small read operations (at most 4 KiB) in each of 3 consecutive hours above 2,000,000"."""
    return f"{_SUBJECT_WORDS[rule.subject]} {measure_text(rule.measure)} {window_text(rule.window)} " + (
        condition_text(rule.condition)
    )


# --- plain data ------------------------------------------------------------------------------------------------


def rule_data(rule: Rule) -> dict[str, Any]:
    """The rule as the TOML keys it is written with, defaults filled in: plain data for a read-only view or JSON,
    and read back by rulefile.parse_rules to the same Rule."""
    data: dict[str, Any] = {
        "name": rule.name,
        "description": rule.description,
        "enabled": rule.enabled,
        "subject": rule.subject,
        "measure": rule.measure.kind,
        "direction": rule.measure.direction,
    }
    if rule.measure.sizes is not None:
        sizes = rule.measure.sizes
        data["sizes"] = [sizes.first] if sizes.below is None else [sizes.first, sizes.below]
    data.update(window=format_duration(rule.window.hours * HOUR), mode=rule.window.mode)
    if isinstance(rule.condition, Above):
        data["above"] = rule.condition.value
    else:
        base = rule.condition
        data["baseline"] = dict(
            factor=base.factor, of=base.of, weeks=base.weeks, min_weeks=base.min_weeks, floor=base.floor
        )
    data.update(
        roles=list(rule.filters.roles),
        machine_types=list(rule.filters.machine_types),
        exclude_users=list(rule.filters.exclude_users),
        severity=rule.severity,
        cooldown=format_duration(rule.cooldown),
        recipients=rule.recipients,
        min_operations=rule.min_operations,
    )
    return data


def ruleset_data(rules: RuleSet) -> list[dict[str, Any]]:
    """Every rule as plain data, with its one-line description under 'summary', in file order."""
    return [{**rule_data(rule), "summary": describe(rule)} for rule in rules.rules]
