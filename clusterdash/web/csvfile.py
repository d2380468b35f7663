"""CSV as clusterdash sends it, from the API (format=csv) and the dashboard's Download CSV alike: cells that a
spreadsheet would run as a formula are neutralised, and the file name says what the file holds.

OWASP's rule for CSV injection: a text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is
prefixed with a single quote, so a user called `=HYPERLINK(...)` stays a name. Numbers are left as numbers.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from clusterdash.db import sizes
from clusterdash.db.filters import Filters
from clusterdash.db.periods import zone
from clusterdash.db.vocabulary import LISTS

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_NAME = 180  # characters of a file name before ".csv": every file system takes 255 bytes
_UNSAFE = re.compile(r"[^A-Za-z0-9._]+")


def cell(value: Any) -> Any:
    """A value as a CSV cell: None empty, text that starts like a formula behind a single quote, numbers as they
    are."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """The rows as CSV with a header, only `columns`, every cell through `cell`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([cell(row.get(c)) for c in columns] for row in rows)
    return out.getvalue()


def file_name(kind: str, start: int | None, end: int | None, filters: Filters) -> str:
    """clusterdash-<kind>-<start>-<end>[-<filter>-<values>...].csv: the hours as ISO dates in the filters' zone
    ('2025-03-12T12Z', '2025-03-12T13+0100'), then every filter given; names reduced to letters, digits, dots and
    underscores, the whole cut to MAX_NAME characters."""
    parts = ["clusterdash", kind]
    parts += [_hour(start, filters.tz), _hour(end, filters.tz)] if start is not None and end is not None else ["all"]
    if filters.direction != "both":
        parts += ["direction", filters.direction]
    for name, field in LISTS.items():
        values = getattr(filters, field)
        if values:
            shown = [sizes.short_form(v) for v in values] if name == "size" else list(values)
            parts += [
                name,
                "+".join(_safe(v) for v in shown[:5]) + (f"+{len(shown) - 5}more" if len(shown) > 5 else ""),
            ]
    return "-".join(parts)[:MAX_NAME] + ".csv"


def _hour(epoch: int, tz: str) -> str:
    local = datetime.fromtimestamp(epoch, zone(tz))
    offset = local.strftime("%z")
    return local.strftime("%Y-%m-%dT%H") + ("Z" if offset == "+0000" else offset)


def _safe(name: str) -> str:
    return _UNSAFE.sub("_", name).strip("_")[:40] or "_"
