"""The parameters a question is asked with, each declared once: the API's query arguments and the dashboard's URL
are one vocabulary (one name each, an older spelling accepted as an alias, the same value forms), so a dashboard
view's query string pasted after an API path asks the API the same question.

Everything that reads or documents a parameter derives from PARAMETERS: `Filters.from_args` (the API), the
dashboard's URL and view store (web/state.py), the checks of the dashboard's callback inputs (web/inputs.py) and
the OpenAPI document (web/openapi.py). `read` takes URL arguments apart by these declarations: unknown names,
repeats, too many or too long values are a BadParameter naming the parameter.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from clusterdash.db.periods import zone
from clusterdash.db.schema.alerts import ALERT_STATES
from clusterdash.db.timerange import PRESETS, parse_time
from clusterdash.errors import BadParameter

MAX_VALUES = 1000  # per repeatable parameter: a longer IN list is a mistake or an attack
MAX_TEXT = 255  # as wide as the Users/Machines name columns
MAX_TOP = 1000  # groups of a series
MAX_LIMIT = 1_000_000  # rows of a list

# The dashboard's user x machine table's columns, by which its rows can be sorted (table_sort).
TABLE_COLUMNS = ("user", "role", "machine", "machine_type", "operations", "est_bytes", "small_share")

# The kinds of value, each read by one rule (Arguments).
TIME, PRESET, NAME, SIZE, CHOICE, INTEGER, ZONE = "time", "preset", "name", "size", "choice", "integer", "zone"
JOB = "job"  # a Slurm job id (JobID or JobIDRaw), its form checked by Filters
TEXT = "text"  # a label matched as given (an alert rule's name), not a name checked against the stored data
# What a parameter does: it narrows every question (filter), shapes an answer where it applies (shape: the
# endpoints that do not use it accept and ignore it), or only changes how the dashboard draws (view).
FILTER, SHAPE, VIEW = "filter", "shape", "view"


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str
    help: str
    role: str = FILTER
    aliases: tuple[str, ...] = ()
    repeat: bool = False
    choices: tuple[str, ...] = ()
    value_aliases: Mapping[str, str] = field(default_factory=dict)  # another spelling of a value -> the value
    low: int | None = None
    high: int | None = None  # an integer's largest value; a text's longest length
    default: Any = None
    field: str | None = None  # the Filters field a name parameter fills
    noun: str | None = None  # what a value names, for messages ("machine type")

    def spellings(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


PARAMETERS: dict[str, Parameter] = {
    p.name: p
    for p in (
        Parameter(
            "start",
            TIME,
            "Start (inclusive): ISO-8601 (2025-03-12, 2025-03-12T14:00, ...Z or +01:00; without an offset read in tz) "
            "or epoch seconds; widened to the hour.",
            aliases=("from",),
        ),
        Parameter("end", TIME, "End (exclusive), in the same forms as start.", aliases=("to",)),
        Parameter(
            "range",
            PRESET,
            "The last 24h, 7d, 30d or 90d of stored data (ending with the newest stored hour), or all of it; "
            "instead of start and end.",
            choices=tuple(PRESETS),
        ),
        Parameter("user", NAME, "Username (repeatable).", repeat=True, field="users", noun="user"),
        Parameter("machine", NAME, "Client machine name (repeatable).", repeat=True, field="machines", noun="machine"),
        Parameter(
            "machine_type",
            NAME,
            "Machine type, e.g. tik (repeatable).",
            aliases=("type",),
            repeat=True,
            field="machine_types",
            noun="machine type",
        ),
        Parameter("role", NAME, "User role, e.g. staff (repeatable).", repeat=True, field="roles", noun="role"),
        Parameter(
            "affiliation",
            NAME,
            "User affiliation, e.g. tik (repeatable).",
            repeat=True,
            field="affiliations",
            noun="affiliation",
        ),
        Parameter(
            "size",
            SIZE,
            "Size bucket (repeatable): its label as logged, [4K, 8K), its lower bound, 4K, 4k or 4096, both bounds, "
            "4K-8K, or neg (negative sizes).",
            repeat=True,
            field="sizes",
            noun="size bucket",
        ),
        Parameter(
            "job",
            JOB,
            "Slurm job by JobID or JobIDRaw, e.g. 123, 123_4 or 123+0 (repeatable): the question covers the job's "
            "user, machines and hours.",
            repeat=True,
            field="jobs",
            noun="job",
        ),
        Parameter(
            "direction",
            CHOICE,
            "rd (reads), wr (writes) or both.",
            aliases=("dir",),
            choices=("rd", "wr", "both"),
            default="both",
        ),
        Parameter("tz", ZONE, "Display time zone (IANA), for day, week and month boundaries and local times."),
        Parameter(
            "group_by",
            CHOICE,
            "Group a series (usage/time): none, user, machine, machine_type or role; the dashboard's stack "
            "(users, machines, machine_types, roles) is the same.",
            role=SHAPE,
            aliases=("stack",),
            choices=("none", "user", "machine", "machine_type", "role"),
            value_aliases={"users": "user", "machines": "machine", "machine_types": "machine_type", "roles": "role"},
            default="none",
        ),
        Parameter(
            "top",
            INTEGER,
            "Groups a series keeps (usage/time); the rest is summed as other.",
            role=SHAPE,
            low=1,
            high=MAX_TOP,
            default=10,
        ),
        Parameter(
            "bucket",
            CHOICE,
            "Series bucket (usage/time): hour, day, week or month; default from the range (hours up to 8 days, "
            "days up to 120, weeks up to two years, then months).",
            role=SHAPE,
            choices=("hour", "day", "week", "month"),
        ),
        Parameter(
            "sort",
            CHOICE,
            "Sort key of a list: users and machines by operations, bytes, sessions, name, first_seen or last_seen; "
            "jobs by operations, bytes, small_share, small_operations, operations_per_node_hour, start or job.",
            role=SHAPE,
            choices=(
                "operations",
                "bytes",
                "sessions",
                "name",
                "first_seen",
                "last_seen",
                "small_share",
                "small_operations",
                "operations_per_node_hour",
                "start",
                "job",
            ),
            default="operations",
        ),
        Parameter(
            "order", CHOICE, "asc or desc (users, machines).", role=SHAPE, choices=("asc", "desc"), default="desc"
        ),
        Parameter("limit", INTEGER, "At most this many rows (users, machines).", role=SHAPE, low=0, high=MAX_LIMIT),
        Parameter(
            "running",
            CHOICE,
            "true: the jobs that ran in the newest stored hour, with no IO too; start and end do not apply (jobs).",
            role=SHAPE,
            choices=("true", "false"),
            default="false",
        ),
        Parameter(
            "state",
            CHOICE,
            "Alerts in this state (alerts): open, resolved or all.",
            role=SHAPE,
            choices=(*ALERT_STATES, "all"),
            default="all",
        ),
        Parameter("rule", TEXT, "An alert rule's name (alerts; repeatable).", role=SHAPE, repeat=True, high=64),
        Parameter(
            "severity", TEXT, "An alert severity, e.g. critical (alerts; repeatable).", role=SHAPE, repeat=True, high=16
        ),
        Parameter("format", CHOICE, "json (default) or csv (lists and series).", role=SHAPE, choices=("json", "csv")),
        Parameter(
            "metric",
            CHOICE,
            "What the dashboard draws: ops (operations) or bytes (estimated); every answer holds both.",
            role=VIEW,
            choices=("ops", "bytes"),
            default="ops",
        ),
        Parameter(
            "table_sort",
            CHOICE,
            f"How the dashboard's user x machine table is sorted: a column ({', '.join(TABLE_COLUMNS)}), '-' first "
            "for descending (the lists' own order is sort and order).",
            role=VIEW,
            choices=(*TABLE_COLUMNS, *(f"-{column}" for column in TABLE_COLUMNS)),
        ),
    )
}
NAMES = tuple(p for p in PARAMETERS.values() if p.kind == NAME)  # checked against the database
# The parameters that fill a Filters tuple: parameter -> field.
LISTS: dict[str, str] = {p.name: p.field for p in PARAMETERS.values() if p.field is not None}
_SPELLINGS = {spelling: p for p in PARAMETERS.values() for spelling in p.spellings()}


def parameter(spelling: str) -> Parameter | None:
    """The parameter a name or an alias stands for."""
    return _SPELLINGS.get(spelling)


def known_names() -> str:
    return ", ".join(PARAMETERS)


def unknown_parameter(name: str) -> BadParameter:
    close = difflib.get_close_matches(name, list(_SPELLINGS), n=1)
    canonical = _SPELLINGS[close[0]].name if close else ""
    hint = f" (did you mean {close[0]}{'' if canonical == close[0] else f', that is {canonical}'}?)" if close else ""
    return BadParameter(name[:40], f"unknown parameter{hint}; the known ones: {known_names()}")


# -- reading -------------------------------------------------------------------------------------------------------


class Arguments:
    """URL arguments by parameter (aliases folded into their parameter), each value read by its declaration."""

    def __init__(self, values: Mapping[str, list[str]], strict: bool = True) -> None:
        self.values = values
        self.strict = strict

    def given(self, name: str) -> bool:
        return bool(self.values.get(name))

    def texts(self, name: str) -> list[str]:
        given = list(self.values.get(name, []))
        longest = PARAMETERS[name].high if PARAMETERS[name].kind == TEXT else None
        if longest is not None and any(len(text) > longest for text in given):
            raise BadParameter(name, f"at most {longest} characters")
        return given

    def text(self, name: str) -> str | None:
        """The one value of a parameter given at most once (the last one in a lenient reading)."""
        given = self.values.get(name, [])
        return given[-1] if given else None

    def choice(self, name: str) -> Any:
        """A choice's value (its value aliases mapped, case ignored), or its default."""
        p = PARAMETERS[name]
        text = self.text(name)
        if text is None:
            return p.default
        value = p.value_aliases.get(text.lower(), text.lower())
        if value not in p.choices:
            raise BadParameter(name, f"must be one of {', '.join(p.choices)}, not {text[:30]!r}")
        return value

    def integer(self, name: str, default: int | None = None) -> int | None:
        p = PARAMETERS[name]
        text = self.text(name)
        if text is None:
            return p.default if default is None else default
        return check_integer(name, text)

    def zone(self, default: str) -> str:
        name = self.text("tz") or default
        zone(name)
        return name

    def time(self, name: str, tz: str, clamp: bool = False) -> int | None:
        text = self.text(name)
        return None if text is None else parse_time(text, tz, name, clamp=clamp)

    def check(self, default_tz: str) -> None:
        """Read every value given, by its kind: a BadParameter for the first that cannot be read, also where the
        question does not use it (names and sizes are checked against the database elsewhere)."""
        tz = self.zone(default_tz)
        for name in self.values:
            kind = PARAMETERS[name].kind
            if kind in (CHOICE, PRESET):
                self.choice(name)
            elif kind == INTEGER:
                self.integer(name)
            elif kind == TIME:
                self.time(name, tz)
            elif kind == TEXT:
                self.texts(name)


def read(args: Any, strict: bool = True) -> Arguments:
    """Arguments from a werkzeug MultiDict, a mapping of name -> str or list of str, or parse_qs's output.

    Strict (the API): an unknown name, a parameter given twice (or under its name and its alias), more than
    MAX_VALUES values, a value over MAX_TEXT characters or holding NUL are a BadParameter naming the parameter.
    Lenient (a link the dashboard opens): unknown names and unreadable values are left out, the last of repeated
    values wins. Empty values count as absent either way."""
    if isinstance(args, Arguments):
        return args
    out: dict[str, list[str]] = {}
    for spelling in list(args.keys()):
        raw = args.getlist(spelling) if hasattr(args, "getlist") else args[spelling]
        raw = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, (list, tuple)) else [raw]
        p = parameter(spelling)
        if p is None:
            if strict:
                raise unknown_parameter(spelling)
            continue
        texts = []
        for value in raw:
            try:
                text = check_text(p.name, value).strip()
            except BadParameter:
                if strict:
                    raise
                continue
            if text:
                texts.append(text)
        if not texts:
            continue
        values = out.setdefault(p.name, [])
        values.extend(texts)
        if strict and not p.repeat and len(values) > 1:
            also = f" (as {p.name} or {'/'.join(p.aliases)})" if p.aliases else ""
            raise BadParameter(p.name, f"give it at most once{also}")
        if len(values) > MAX_VALUES:
            if strict:
                raise BadParameter(p.name, f"at most {MAX_VALUES} values")
            del values[MAX_VALUES:]
    return Arguments(out, strict)


def check_text(name: str, value: Any) -> str:
    """`value` if it is text a name column can hold: BadParameter for what is not text, is longer than MAX_TEXT
    or holds NUL."""
    if not isinstance(value, str):
        raise BadParameter(name, f"must be text, not {type(value).__name__}")
    if len(value) > MAX_TEXT or "\x00" in value:
        raise BadParameter(name, f"value too long or not text ({len(value)} characters)")
    return value


def check_integer(name: str, value: Any) -> int:
    """A whole number within the parameter's bounds, from text or an int (not a bool)."""
    p = PARAMETERS[name]
    if isinstance(value, str):
        text = value.strip()
        if not text.lstrip("-").isdigit() or len(text) > 12:
            raise BadParameter(name, f"must be a whole number, not {text[:30]!r}")
        value = int(text)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadParameter(name, "must be a whole number")
    low, high = p.low or 0, p.high or MAX_LIMIT
    if not low <= value <= high:
        raise BadParameter(name, f"must be between {low} and {high}")
    return value
