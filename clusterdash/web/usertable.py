"""The user x machine table panel and its CSV download: one row per (user, machine) pair in the range.

Filtered by every selection except users and machines (its own dimensions), like every panel; the
selected users' and machines' rows are highlighted. Numbers stay numeric so the table sorts them
properly, shown as the rest of the page shows them: operations with SI prefixes (1.23M), estimated bytes
(count x bucket midpoint) in the binary unit that fits the largest value shown, to three significant digits
(so a small pair reads 0.00123, never 0.00). Names are shown through `format.visible`.

A user or machine cell is markdown: the name (every punctuation character escaped, so a name is shown as the
text it is) and a link to its profile that keeps the view. A click on the name selects it, as a bar click does.
"""

from __future__ import annotations

import functools
import re

from dash import dcc
from dash.dash_table.Format import Format, Group, Scheme, Trim
from sqlalchemy import Engine

from clusterdash.db import query
from clusterdash.web import csvfile, interactions, state
from clusterdash.web import format as fmt
from clusterdash.web.lookups import hours_shown
from clusterdash.web.panels import answer, no_data_message, question

SHOWN_ROWS = 500  # the browser sorts what it holds; the CSV has every row
HIGHLIGHT = "#e7f0ff"
_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # CommonMark lets a backslash escape any of them


def columns(byte_unit: str = "GiB") -> list[dict]:
    return [
        {"id": "user", "name": "user", "type": "text", "presentation": "markdown"},
        {"id": "role", "name": "role", "type": "text"},
        {"id": "machine", "name": "machine", "type": "text", "presentation": "markdown"},
        {"id": "machine_type", "name": "machine type", "type": "text"},
        {
            "id": "operations",
            "name": "operations",
            "type": "numeric",
            "format": Format(precision=3, scheme=Scheme.decimal_si_prefix, trim=Trim.yes),  # as format.count
        },
        {
            "id": "est_bytes",
            "name": f"est. {byte_unit} (midpoint)",
            "type": "numeric",
            "format": Format(group=Group.yes, precision=3, scheme=Scheme.decimal, trim=Trim.yes),
        },
        {
            "id": "small_share",
            "name": "small IO %",
            "type": "numeric",
            "format": Format(precision=1, scheme=Scheme.fixed),
        },
    ]


def _rows(engine: Engine, view: state.View) -> list[dict]:
    return answer(engine, query.user_machine_usage, view, without=("users", "machines"))


def table(engine: Engine, view: state.View) -> tuple[list, list, list, str]:
    """(columns, data, highlight styles, note) for the DataTable."""
    rows = _rows(engine, view)
    users, machines = set(view.users), set(view.machines)
    # The selected users' and machines' rows first (highlighted), then the rest by the view's metric.
    rows = sorted(
        rows,
        key=lambda r: (
            not (r["user"] in users or r["machine"] in machines),
            -((r["bytes"] or 0) if view.metric == "bytes" else r["operations"]),
        ),
    )
    shown = rows[:SHOWN_ROWS]
    divisor, unit = fmt.byte_scale(max((r["bytes"] or 0 for r in shown), default=0))
    link = interactions.profile_links(view)
    data = [
        {
            # The row id stays raw: a click on a cell selects the real name (clusterdash.js reads it).
            "id": f"{r['user']}\t{r['machine']}",
            "user": _linked(r["user"], link("user", r["user"])),
            "role": fmt.visible(r["role"] or ""),
            "machine": _linked(r["machine"], link("machine", r["machine"])),
            # The names as shown, for the highlight of the selected rows (the cells hold markdown).
            "user_name": fmt.visible(r["user"]),
            "machine_name": fmt.visible(r["machine"]),
            "machine_type": fmt.visible(r["machine_type"]),
            "operations": r["operations"],
            "est_bytes": float(f"{(r['bytes'] or 0) / divisor:.3g}"),
            "small_share": round(100.0 * r["small_operations"] / r["operations"], 1) if r["operations"] else None,
        }
        for r in shown
    ]
    styles = [{"if": {"column_id": ["user", "machine"]}, "cursor": "pointer", "color": "#0b5ed7"}]
    for dimension, column in (("users", "user_name"), ("machines", "machine_name")):
        for value in view.selected(dimension):
            styles.append(
                {"if": {"filter_query": f"{{{column}}} = {_quoted(fmt.visible(value))}"}, "backgroundColor": HIGHLIGHT}
            )
    if not rows:
        note = no_data_message(view, engine)
    elif len(rows) > SHOWN_ROWS:
        note = f"top {SHOWN_ROWS} of {len(rows):,} user × machine pairs shown (the CSV has all)."
    else:
        note = (
            f"{len(rows):,} user × machine pairs, {fmt.count(sum(r['operations'] for r in rows))} operations. "
            "Click a user or machine to select it."
        )
    return columns(unit), data, styles, note


def _linked(name: str, href: str) -> str:
    """Markdown: the name as literal text, then a link to its profile."""
    return f"{_markdown_text(name)} [↗]({href})"


@functools.lru_cache(maxsize=4096)  # a table names each user and machine many times
def _markdown_text(name: str) -> str:
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", fmt.visible(name))


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


CSV_COLUMNS = [
    "user",
    "role",
    "affiliation",
    "machine",
    "machine_type",
    "sessions",
    "operations",
    "small_operations",
    "bytes_low",
    "bytes",
    "bytes_high",
]


def csv_download(engine: Engine, view: state.View) -> dict:
    """Every row, with both byte bounds next to the estimate, for dcc.Download: the API's CSV (formula-like cells
    neutralised), named by the range (ISO hours in the view's zone) and the filters that shaped it."""
    rows = _rows(engine, view)
    filters, extent = question(engine, view, without=("users", "machines"))
    start, end = hours_shown(filters, extent)
    name = csvfile.file_name("users-machines", start, end, filters)
    return dcc.send_string(csvfile.csv_text(rows, CSV_COLUMNS), name)
