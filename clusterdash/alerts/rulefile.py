"""Reading a rule file: TOML in, a RuleSet out, or every problem in the file at once.

The file is a list of `[[rule]]` tables; docs/alerts.example.toml shows and explains every key. Each problem names
the file, the rule and the field (`rules.toml: rule "small-reads": window: ...`), and validation goes on past a
problem, so one run shows all of them.

Keys and defaults (rules.py says what they mean):
    name            required; unique; letters, digits, '.', '_', '-' (at most 64)
    description     ''                  free text shown with the alert
    enabled         true                false keeps the rule in the file without judging it
    subject         required            user, machine, user_machine, machine_type, role, server
    measure         required            operations, bytes, small_operations, small_share, machines
    direction       'both'              rd, wr, both
    sizes           every bucket        ['4K', '64K']: buckets from 4K up to below 64K; ['1M']: from 1M up
    window          '1h'                whole hours, 1h to 7d ('3h', '24h')
    mode            'sum'               sum, sustained
    above           (or baseline)       the value must be strictly above it
    baseline        (or above)          { factor, floor (required), weeks = 4, min_weeks = 2,
                                          of = 'median_same_hour_of_week' }
    roles           all                 only users with these roles
    machine_types   all                 only machines of these types
    exclude_users   none                never these users
    severity        'warning'           info, warning, critical
    cooldown        '6h'                0m to 30d: after an alert resolves, how long before it may fire again
    recipients      'admins'            admins, user (the subject user), both
    min_operations  0                   judge only subjects with at least this many operations in the window
"""

from __future__ import annotations

import difflib
import math
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from clusterdash.alerts.rules import (
    BASELINE_KINDS,
    DEFAULT_COOLDOWN,
    DIRECTIONS,
    MAX_COOLDOWN,
    MAX_WEEKS,
    MAX_WINDOW,
    MEASURES,
    MODES,
    RECIPIENTS,
    SEVERITIES,
    SMALL_MEASURES,
    SUBJECTS,
    USER_SUBJECTS,
    Above,
    Baseline,
    Measure,
    Rule,
    RuleFilters,
    RuleSet,
    SizeRange,
    Window,
    parse_duration,
    size_bytes,
)
from clusterdash.db.periods import HOUR
from clusterdash.errors import InputError, UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 reads TOML with the tomli backport
    import tomli as tomllib

RULE_KEYS = (
    "name",
    "description",
    "enabled",
    "subject",
    "measure",
    "direction",
    "sizes",
    "window",
    "mode",
    "above",
    "baseline",
    "roles",
    "machine_types",
    "exclude_users",
    "severity",
    "cooldown",
    "recipients",
    "min_operations",
)
BASELINE_KEYS = ("factor", "floor", "weeks", "min_weeks", "of")
MAX_NAME_LIST = 1000  # names in one filter: a longer list is a mistake
MAX_TEXT = 500
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class RuleError(UserError):
    """One problem in a rule file: the file, the rule (its name, or its position when it has no usable name), the
    field (a TOML key, 'baseline.factor' inside the baseline table) and what is wrong."""

    def __init__(self, source: str, rule: str | None, field: str | None, message: str, position: int = 0) -> None:
        self.source, self.rule, self.field, self.message, self.position = source, rule, field, message, position
        where = [source]
        if rule is not None:
            where.append(f'rule "{rule}"')
        elif position:
            where.append(f"rule #{position}")
        if field is not None:
            where.append(field)
        super().__init__(": ".join([*where, message]))


class RuleFileError(UserError):
    """Every problem found in one rule file, one per line."""

    def __init__(self, errors: list[RuleError]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(str(error) for error in self.errors))


# --- field checks: each returns the value to keep or raises ValueError with the message --------------------------


def _choice(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)} (got {_shown(value)})")
        return value

    return check


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false (got {_shown(value)})")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise ValueError(f"must be text of at most {MAX_TEXT} characters")
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(
            f"{_shown(value)} is not a usable name (1 to 64 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit: it appears in alert keys and links)"
        )
    return value


def _number(low: float, high: float | None = None, above_low: bool = False) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        ok = ok and (value > low if above_low else value >= low) and (high is None or value <= high)
        if not ok:
            bounds = f"{'above' if above_low else 'at least'} {low:g}"
            bounds += "" if high is None else f" and at most {high:g}"
            raise ValueError(f"must be a number {bounds} (got {_shown(value)})")
        return value

    return check


def _whole(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high} (got {_shown(value)})")
        return value

    return check


def _names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_NAME_LIST:
        raise ValueError(f'must be a list of names, such as ["stud", "guest"] (at most {MAX_NAME_LIST})')
    for item in value:
        if not isinstance(item, str) or not item or len(item) > 255 or _CONTROL.search(item):
            raise ValueError(f"{_shown(item)} is not a name (text of 1 to 255 printable characters)")
    duplicates = sorted({item for item in value if value.count(item) > 1})
    if duplicates:
        raise ValueError(f"{duplicates[0]!r} is listed twice")
    return tuple(value)


def _sizes(value: Any) -> SizeRange:
    example = 'such as ["4K", "64K"] (from 4K up to below 64K) or ["1M"] (from 1M up)'
    if not isinstance(value, list) or len(value) not in (1, 2):
        raise ValueError(f"must be a list of one or two sizes, {example}")
    if not all(isinstance(token, str) for token in value):
        raise ValueError(f"sizes are text, {example}")
    for token in value:
        size_bytes(token)
    if len(value) == 2 and size_bytes(value[0]) >= size_bytes(value[1]):
        raise ValueError(f"the first size must be below the second, {example}")
    return SizeRange(*value)


def _window(value: Any) -> Window:
    seconds = parse_duration(value)
    if seconds % HOUR or not HOUR <= seconds <= MAX_WINDOW:
        raise ValueError(f"must be whole hours from 1h to {MAX_WINDOW // HOUR}h (got {_shown(value)})")
    return Window(hours=seconds // HOUR)


def _cooldown(value: Any) -> int:
    seconds = parse_duration(value)
    if seconds > MAX_COOLDOWN:
        raise ValueError(f"must be at most 30d (got {_shown(value)})")
    return seconds


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- a rule --------------------------------------------------------------------------------------------------------

_REQUIRED = object()
_INVALID = object()


class _Table:
    """Takes a TOML table's keys one by one, recording a problem for each unknown, missing or invalid one."""

    def __init__(self, table: Mapping[str, Any], known: tuple[str, ...], prefix: str, bad: Callable[..., None]):
        self.table, self.prefix, self.bad = table, prefix, bad
        for key in table:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"
                bad(prefix + key, "unknown key" + hint)

    def take(self, key: str, check: Callable[[Any], Any], default: Any = _REQUIRED) -> Any:
        if key not in self.table:
            if default is _REQUIRED:
                self.bad(self.prefix + key, "required")
                return _INVALID
            return default
        try:
            return check(self.table[key])
        except ValueError as exc:
            self.bad(self.prefix + key, str(exc))
            return _INVALID


def _rule(table: Any, position: int, source: str, names: dict[str, int]) -> tuple[Rule | None, list[RuleError]]:
    errors: list[RuleError] = []
    label: list[str | None] = [None]

    def bad(field: str | None, message: str) -> None:
        errors.append(RuleError(source, label[0], field, message, position))

    if not isinstance(table, dict):
        bad(None, "must be a table: write each rule as a [[rule]] section")
        return None, errors
    written = table.get("name")
    if isinstance(written, str) and _NAME.match(written):
        label[0] = written
    keys = _Table(table, RULE_KEYS, "", bad)
    name = keys.take("name", _name)
    if name is not _INVALID:
        if name in names:
            bad("name", f"rule #{names[name]} has this name already (names must be unique)")
        names.setdefault(name, position)
    subject = keys.take("subject", _choice(SUBJECTS))
    kind = keys.take("measure", _choice(MEASURES))
    direction = keys.take("direction", _choice(DIRECTIONS), "both")
    sizes = keys.take("sizes", _sizes, None)
    window = keys.take("window", _window, Window())
    mode = keys.take("mode", _choice(MODES), "sum")
    condition = _condition(table, keys, kind, bad)
    filters = [keys.take(key, _names, ()) for key in ("roles", "machine_types", "exclude_users")]
    recipients = keys.take("recipients", _choice(RECIPIENTS), "admins")
    fields = dict(
        description=keys.take("description", _text, ""),
        enabled=keys.take("enabled", _flag, True),
        severity=keys.take("severity", _choice(SEVERITIES), "warning"),
        cooldown=keys.take("cooldown", _cooldown, DEFAULT_COOLDOWN),
        min_operations=keys.take("min_operations", _whole(0, 10**15), 0),
    )
    if kind == "machines" and subject not in (_INVALID, "user"):
        bad("measure", f"machines counts the machines a user is active on: the subject must be user, not {subject}")
    if kind in SMALL_MEASURES and sizes not in (_INVALID, None):
        bad("sizes", f"{kind} already keeps the buckets at or below 4K; use measure = 'operations' with sizes")
    if recipients in ("user", "both") and subject not in (_INVALID, *USER_SUBJECTS):
        bad("recipients", f"{recipients!r} tells the subject user, but a {subject} subject names no user")
    if errors:
        return None, errors
    rule = Rule(
        name=name,
        subject=subject,
        measure=Measure(kind, direction, sizes),
        condition=condition,
        window=Window(window.hours, mode),
        filters=RuleFilters(*filters),
        recipients=recipients,
        **fields,
    )
    return rule, errors


def _condition(table: dict[str, Any], keys: _Table, kind: Any, bad: Callable[..., None]) -> Any:
    share = kind == "small_share"  # a share lies in 0..1
    if ("above" in table) == ("baseline" in table):
        both = "above" in table
        bad("above", "give either above or baseline, not both" if both else "required (or a baseline = { ... })")
        return _INVALID
    if "above" in table:
        value = keys.take("above", _number(0, 1 if share else None))
        return _INVALID if value is _INVALID else Above(value)
    base = table["baseline"]
    if not isinstance(base, dict):
        bad("baseline", "must be a table such as { factor = 5, floor = 100_000 }")
        return _INVALID
    part = _Table(base, BASELINE_KEYS, "baseline.", bad)
    factor = part.take("factor", _number(1, 1000, above_low=True))
    floor = part.take("floor", _number(0, 1 if share else None))
    weeks = part.take("weeks", _whole(1, MAX_WEEKS), 4)
    min_weeks = part.take("min_weeks", _whole(1, MAX_WEEKS), min(2, weeks) if weeks is not _INVALID else 2)
    of = part.take("of", _choice(BASELINE_KINDS), BASELINE_KINDS[0])
    if weeks is not _INVALID and min_weeks is not _INVALID and min_weeks > weeks:
        bad("baseline.min_weeks", f"must be at most weeks ({weeks}): the weeks of history needed, of those looked at")
        return _INVALID
    if _INVALID in (factor, floor, weeks, min_weeks, of):
        return _INVALID
    return Baseline(factor=factor, floor=floor, weeks=weeks, min_weeks=min_weeks, of=of)


# --- a file --------------------------------------------------------------------------------------------------------


def rules_from_data(data: Mapping[str, Any], source: str = "rules") -> RuleSet:
    """A RuleSet from a parsed rule file ({'rule': [table, ...]}); RuleFileError with every problem otherwise."""
    errors: list[RuleError] = []
    for key in data:
        if key != "rule":
            errors.append(RuleError(source, None, key, "unknown key (a rule file holds [[rule]] tables only)"))
    tables = data.get("rule")
    if not isinstance(tables, list) or not tables:
        errors.append(RuleError(source, None, "rule", "no rules: write each rule as a [[rule]] table"))
        raise RuleFileError(errors)
    rules: list[Rule] = []
    names: dict[str, int] = {}
    for position, table in enumerate(tables, start=1):
        rule, problems = _rule(table, position, source, names)
        errors.extend(problems)
        if rule is not None:
            rules.append(rule)
    if errors:
        raise RuleFileError(errors)
    return RuleSet(tuple(rules), source)


def parse_rules(text: str, source: str = "rules") -> RuleSet:
    """A RuleSet from TOML text; RuleFileError naming `source` otherwise."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleFileError([RuleError(source, None, None, f"not valid TOML: {exc}")]) from None
    return rules_from_data(data, source)


def load_rules(path: str | Path) -> RuleSet:
    """The rules in a TOML file: InputError when it cannot be read, RuleFileError listing every problem in it."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{source}: cannot read the rule file ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise RuleFileError([RuleError(source, None, None, f"not UTF-8 text (line {line})")]) from None
    return parse_rules(text, source)
