"""The jobs panel and a job's card: plain (engine, view) bodies through db.query, like panels.py.

The jobs panel is filtered by every selection except jobs (its own dimension: the selected jobs stay drawn solid,
the others faded); a click on a job's bar or its id in the table selects it, and the other panels then show its
user, its machines and the hours it ran. "Running now" lists the jobs of the newest stored hour. A job's card
(/job/<id>, or one job selected) puts its allocation beside its IO hour by hour and by IO size.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
from dash import dcc, html
from dash.dash_table.Format import Format, Scheme, Trim
from sqlalchemy import Engine

from clusterdash.db import query
from clusterdash.errors import BadParameter
from clusterdash.web import coverage, figures, panels, state, timecharts
from clusterdash.web import format as fmt
from clusterdash.web.cards import epoch_of
from clusterdash.web.layout import GRAPH_CONFIG
from clusterdash.web.panels import answer, filters_for, no_data_message

TOP_JOBS = 15  # bars
SHOWN_JOBS = 100  # table rows
WHEN = ("range", "now")
RANKINGS = ("operations", "small_share")
HIGHLIGHT = "#fdf2f8"


def columns() -> list[dict]:
    si = Format(precision=3, scheme=Scheme.decimal_si_prefix, trim=Trim.yes)  # as format.count
    return [
        {"id": "job", "name": "job", "type": "text"},
        {"id": "job_user", "name": "user", "type": "text"},
        {"id": "name", "name": "name", "type": "text"},
        {"id": "state", "name": "state", "type": "text"},
        {"id": "nodes", "name": "nodes", "type": "text"},
        {"id": "run_time", "name": "run time", "type": "text"},
        {"id": "operations", "name": "operations", "type": "numeric", "format": si},
        {"id": "est_bytes", "name": "est. bytes", "type": "text"},
        {
            "id": "small_share",
            "name": "small IO %",
            "type": "numeric",
            "format": Format(precision=1, scheme=Scheme.fixed),
        },
        {"id": "per_node_hour", "name": "ops / node-hour", "type": "numeric", "format": si},
    ]


def jobs(engine: Engine, view: state.View, ranking: str | None, when: str | None) -> list:
    """[bars, table columns, table rows, highlight styles, note] of the jobs panel. `ranking` and `when` are its
    controls' values (None: not drawn yet, the default); anything else no control can produce is a BadParameter."""
    ranking, when = _checked("jobs_rank", ranking, RANKINGS), _checked("jobs_when", when, WHEN)
    sort = "small_share" if ranking == "small_share" else ("bytes" if view.metric == "bytes" else "operations")
    question = query.running_jobs if when == "now" else query.jobs_table
    result = answer(engine, question, view, without=("jobs",), sort=sort, limit=SHOWN_JOBS)
    rows = result["jobs"]
    value = "bytes" if view.metric == "bytes" else "operations"
    shown = rows[:TOP_JOBS] + [r for r in rows[TOP_JOBS:] if r["job"] in view.jobs]
    data = pd.DataFrame(
        {
            "name": [r["job"] for r in shown],
            "value": [r[value] or 0 for r in shown],
            "label": [f"{r['job']} · {r['user']}" for r in shown],
        }
    )
    empty = "No job ran in the newest hour" if when == "now" else _no_jobs(engine, view)
    bars = figures.ranking_bar(
        data,
        "jobs",
        view.metric,
        view.jobs,
        empty_message=empty,
        note=f"top {TOP_JOBS} of {result['jobs_with_io']:,} jobs" if result["jobs_with_io"] > TOP_JOBS else "",
        labels=data["label"].tolist(),
    )
    table = [_table_row(r) for r in rows]
    styles = [{"if": {"column_id": "job"}, "cursor": "pointer", "color": "#0b5ed7"}]
    styles += [{"if": {"filter_query": f"{{job}} = {_quoted(job)}"}, "backgroundColor": HIGHLIGHT} for job in view.jobs]
    return [bars, columns(), table, styles, _note(result, when, view.tz)]


def _checked(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value is None:
        return allowed[0]
    if not isinstance(value, str) or value not in allowed:
        raise BadParameter(name, f"must be one of {', '.join(allowed)}, not {str(value)[:30]!r}")
    return value


def _no_jobs(engine: Engine, view: state.View) -> str:
    return "No job did IO in this range" + ("" if no_data_message(view, engine).startswith("No data") else " here")


def _table_row(r: dict) -> dict:
    return {
        "id": r["job"],  # raw: a click selects the real id (clusterdash.js)
        "job": r["job"],
        "job_user": fmt.visible(r["user"]),
        "name": fmt.visible(r["name"]),
        "state": fmt.visible(r["state_text"]),
        "nodes": fmt.visible(r["node_list"]),
        "run_time": duration(r["elapsed"]),
        "operations": r["operations"],
        "est_bytes": fmt.size(r["bytes"]),
        "small_share": None if r["small_share"] is None else round(100 * r["small_share"], 1),
        "per_node_hour": None if r["operations_per_node_hour"] is None else round(r["operations_per_node_hour"]),
    }


def _note(result: dict, when: str, tz: str) -> str:
    totals = result["totals"]
    span = result["range"]
    where = (
        f"in the newest hour ({fmt.when(span['start_epoch'], tz, False)} – {fmt.when(span['end_epoch'], tz)})"
        if when == "now"
        else "in this range"
    )
    estimated = " (estimated: each job's share of each hour's histogram)" if result["operations_estimated"] else ""
    return (
        f"{result['jobs_with_io']:,} jobs did IO {where}: {fmt.count(totals['attributed_operations'])} operations "
        f"({fmt.percent(totals['attributed_operations'], totals['operations'])}){estimated}; outside jobs "
        f"(logins, interactive work, jobs sacct did not list): {fmt.count(totals['outside_operations'])} "
        f"({fmt.percent(totals['outside_operations'], totals['operations'])}). A user's IO on a machine in an hour is "
        "shared among that user's jobs running there by seconds × CPUs. Click a job to select it."
    )


def duration(seconds: int | None) -> str:
    """Slurm's Elapsed as people read it: '2 d 3 h', '4 h 05 min', '12 min'."""
    if seconds is None:
        return "–"
    days, rest = divmod(int(seconds), 86400)
    hours, minutes = rest // 3600, rest % 3600 // 60
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- a job's card ---------------------------------------------------------------------------------------------------


def profile(engine: Engine, view: state.View) -> Any:
    """The profile card: a job's when the view is on exactly one job (/job/<id>), else a user's or a machine's
    (panels.profile)."""
    return job_card(engine, view) if len(view.jobs) == 1 else panels.profile(engine, view)


def job_card(engine: Engine, view: state.View) -> Any:
    """The card of the one selected job: allocation and times, its IO over its run and its IO sizes."""
    key = view.jobs[0]
    with engine.connect() as conn:
        filters = filters_for(view, None, without=tuple(state.DIMENSIONS)).with_(start=None, end=None)
        info = query.job_profile(conn, key, filters)
    if info is None:
        return dbc.Alert(
            [html.Strong(f"No job {fmt.visible(key)}"), " in the database (or not one of yours)."],
            color="warning",
            className="mb-3",
        )
    job, totals = info["job"], info["totals"]
    cells = info["cells"]
    facts = [
        ("User", fmt.visible(job["user"])),
        ("Account / partition", f"{fmt.visible(job['account'])} / {fmt.visible(job['partition'])}"),
        ("State", fmt.visible(job["state_text"])),
        ("Started", fmt.when(epoch_of(job["start"]), view.tz)),
        ("Ended", fmt.when(epoch_of(job["end"]), view.tz) if job["end"] else "running"),
        ("Run time", duration(job["elapsed"])),
        ("Allocation", _allocation(info["allocation"], job)),
        (
            "Operations",
            f"{fmt.count(totals['operations'])} ({fmt.percent(totals['rd_operations'], totals['operations'])} reads)",
        ),
        ("Estimated bytes", fmt.size(totals["bytes"])),
        ("Small IO (< 4 KiB)", fmt.percent(totals["small_operations"], totals["operations"])),
        ("Of its user's IO on its nodes while it ran", fmt.percent(cells["taken_by_this_job"], cells["operations"])),
    ]
    points = info["series"]["points"]
    value = "bytes" if view.metric == "bytes" else "operations"
    if value == "operations":  # None where no block covers the hour: a gap, not zero IO
        series = {"reads": [p["rd_operations"] for p in points], "writes": [p["wr_operations"] for p in points]}
    else:
        series = {"bytes": [p["bytes"] for p in points]}
    buckets = coverage.buckets(
        [{"epoch": p["epoch"], "hours": 1, "hours_with_data": int(p["operations"] is not None)} for p in points],
        "hour",
        view.tz,
    )
    over_time = timecharts.stacked_series(series, buckets, view.metric, view.tz, empty_message="No IO of this job")
    sizes = pd.DataFrame(
        {
            "label": [b["label"] for b in info["sizes"]],
            "lower": [b["lower_bytes"] for b in info["sizes"]],
            "value": [b[value] for b in info["sizes"]],
        }
    )
    by_size = figures.size_distribution(sizes, view.metric, empty_message="No IO of this job")
    body = [
        html.Div(
            [
                html.H2(f"Job {job['job']}", className="profile-name"),
                html.Span(fmt.visible(job["name"]), className="badge text-bg-light me-1"),
                html.Span(fmt.visible(job["state"]), className="badge text-bg-light"),
            ]
        ),
        html.Div(
            [html.Span([html.Span(label, className="label"), text]) for label, text in facts],
            className="profile-facts",
        ),
        dbc.Row(
            [
                dbc.Col([html.Div("IO over its run", className="sub-title"), _graph(over_time)], lg=7),
                dbc.Col([html.Div("IO sizes (its share of each hour)", className="sub-title"), _graph(by_size)], lg=5),
            ],
            className="g-2",
        ),
    ]
    return dbc.Card(dbc.CardBody(body), className="profile job")


def _allocation(allocation: list[dict], job: dict) -> str:
    nodes = ", ".join(f"{fmt.visible(a['machine'])} ({a['cpus']} CPUs)" for a in allocation) or "none"
    extra = [f"{job['gpus']} GPUs"] if job["gpus"] else []
    extra += [f"{fmt.size(job['mem_bytes'])} memory"] if job["mem_bytes"] else []
    return nodes + (f"; {', '.join(extra)}" if extra else "")


def _graph(figure: dict) -> dcc.Graph:
    return dcc.Graph(figure=figure, config=GRAPH_CONFIG, className="panel-graph")
