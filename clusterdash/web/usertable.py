"""The user x machine table panel and its CSV download: one row per (user, machine) pair in the range.

Filtered by every selection except users and machines (its own dimensions), like every panel; the
selected users' and machines' rows are highlighted. Numbers stay numeric so the table sorts them
properly, shown as the rest of the page shows them: operations with SI prefixes (1.23M), estimated bytes
(count x bucket midpoint) in the binary unit that fits the largest value shown, to three significant digits
(so a small pair reads 0.00123, never 0.00). Names are shown through `format.visible`.
"""

from __future__ import annotations

from dash import dcc
from dash.dash_table.Format import Format, Group, Scheme, Trim
from sqlalchemy import Engine

from clusterdash.db import query
from clusterdash.web import csvfile, state
from clusterdash.web import format as fmt
from clusterdash.web.panels import answer, no_data_message, question

SHOWN_ROWS = 500  # the browser sorts what it holds; the CSV has every row
HIGHLIGHT = "#e7f0ff"


def columns(byte_unit: str = "GiB") -> list[dict]:
    return [
        {"id": "user", "name": "user", "type": "text"},
        {"id": "role", "name": "role", "type": "text"},
        {"id": "machine", "name": "machine", "type": "text"},
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
    data = [
        {
            # The row id stays raw: a click on a cell selects the real name (clusterdash.js reads it).
            "id": f"{r['user']}\t{r['machine']}",
            "user": fmt.visible(r["user"]),
            "role": fmt.visible(r["role"] or ""),
            "machine": fmt.visible(r["machine"]),
            "machine_type": fmt.visible(r["machine_type"]),
            "operations": r["operations"],
            "est_bytes": float(f"{(r['bytes'] or 0) / divisor:.3g}"),
            "small_share": round(100.0 * r["small_operations"] / r["operations"], 1) if r["operations"] else None,
        }
        for r in shown
    ]
    styles = [{"if": {"column_id": ["user", "machine"]}, "cursor": "pointer", "color": "#0b5ed7"}]
    for dimension, column in (("users", "user"), ("machines", "machine")):
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
    start, end = filters.hour_range()
    if extent is not None:
        start, end = extent[0] if start is None else start, extent[1] if end is None else end
    name = csvfile.file_name("users-machines", start, end, filters)
    return dcc.send_string(csvfile.csv_text(rows, CSV_COLUMNS), name)
