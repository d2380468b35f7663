"""The user x machine table panel and its CSV download: one row per (user, machine) pair in the range.

Filtered by every selection except users and machines (its own dimensions), like every panel; the
selected users' and machines' rows are highlighted. Numbers stay numeric so the table sorts them
properly; bytes are shown in GiB, estimated (count x bucket midpoint).
"""

from __future__ import annotations

import csv
import io

from dash import dcc
from dash.dash_table.Format import Format, Group, Scheme
from sqlalchemy import Engine

from clusterdash.db import query
from clusterdash.web import format as fmt
from clusterdash.web import state
from clusterdash.web.panels import answer, no_data_message

SHOWN_ROWS = 500  # the browser sorts what it holds; the CSV has every row
GIB = 1024**3
HIGHLIGHT = "#e7f0ff"


def columns() -> list[dict]:
    whole = Format(group=Group.yes, precision=0, scheme=Scheme.fixed)
    return [
        {"id": "user", "name": "user", "type": "text"},
        {"id": "role", "name": "role", "type": "text"},
        {"id": "machine", "name": "machine", "type": "text"},
        {"id": "machine_type", "name": "machine type", "type": "text"},
        {"id": "operations", "name": "operations", "type": "numeric", "format": whole},
        {
            "id": "gib",
            "name": "est. GiB (midpoint)",
            "type": "numeric",
            "format": Format(group=Group.yes, precision=2, scheme=Scheme.fixed),
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
    data = [
        {
            "id": f"{r['user']}\t{r['machine']}",
            "user": r["user"],
            "role": r["role"] or "",
            "machine": r["machine"],
            "machine_type": r["machine_type"],
            "operations": r["operations"],
            "gib": round((r["bytes"] or 0) / GIB, 2),
            "small_share": round(100.0 * r["small_operations"] / r["operations"], 1) if r["operations"] else None,
        }
        for r in rows[:SHOWN_ROWS]
    ]
    styles = [{"if": {"column_id": ["user", "machine"]}, "cursor": "pointer", "color": "#0b5ed7"}]
    for dimension, column in (("users", "user"), ("machines", "machine")):
        for value in view.selected(dimension):
            styles.append({"if": {"filter_query": f"{{{column}}} = {_quoted(value)}"}, "backgroundColor": HIGHLIGHT})
    if not rows:
        note = no_data_message(view)
    elif len(rows) > SHOWN_ROWS:
        note = f"{len(rows):,} user × machine pairs; the {SHOWN_ROWS} largest shown (the CSV has all)."
    else:
        note = (
            f"{len(rows):,} user × machine pairs, {fmt.count(sum(r['operations'] for r in rows))} operations. "
            "Click a user or machine to select it."
        )
    return columns(), data, styles, note


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def csv_download(engine: Engine, view: state.View) -> dict:
    """Every row, with both byte bounds next to the estimate, for dcc.Download."""
    rows = _rows(engine, view)
    out = io.StringIO()
    fields = [
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
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    start, end = view.window(None) if view.preset == state.CUSTOM else (None, None)
    name = "clusterdash-users-machines" + (f"-{start}-{end}" if start else f"-{view.preset}") + ".csv"
    return dcc.send_string(out.getvalue(), name)
