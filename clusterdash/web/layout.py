"""The component tree, and every component id in one place (ID). Structure only: callbacks fill the panels.

Ids are prefixed by their panel (filter-, series-, users-, ...), after the Dash multi-page demos.
The view itself lives in the URL and, parsed, in one dcc.Store (ID.view) that every panel reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import available_timezones

import dash_bootstrap_components as dbc
from dash import dash_table, dcc, html

from clusterdash.web import figures, loadchart, state


class ID:
    url = "url"
    view = "state-view"  # the parsed View, as JSON: the panels' one input besides the data version
    click = "state-click"  # the last click on a chart, with whether shift was held (set client-side)
    data_version = "live-version"  # changes when new blocks land; panels redraw, selections stay
    interval = "live-interval"
    live_status = "live-status"
    empty_interval = "empty-interval"
    empty_url = "empty-url"

    preset = "filter-preset"
    range = "filter-range"
    direction = "filter-direction"
    metric = "filter-metric"
    tz = "filter-tz"
    chips = "filter-chips"
    clear = "filter-clear"
    copy = "filter-copy"
    chip_remove = "filter-chip-remove"  # pattern-matching type: {"type": chip_remove, "dimension": ..., "value": ...}
    notice = "filter-notice"  # why the view did not change as asked, or what a link named that is not stored

    profile = "profile-card"
    headline = "headline-body"
    share = "headline-share"  # a signed-in user's share beside everyone else's
    signed_in = "nav-signed-in"
    series_graph = "series-graph"
    series_stack = "series-stack"
    series_top = "series-top"
    series_note = "series-note"
    users_graph = "users-graph"
    roles_graph = "users-roles-graph"
    machines_graph = "machines-graph"
    types_graph = "machines-types-graph"
    load_graph = "load-graph"
    sizes_graph = "sizes-graph"
    heatmap_graph = "heatmap-graph"
    table = "table-grid"
    table_csv = "table-csv-button"
    table_download = "table-download"
    table_note = "table-note"
    health = "health-body"
    alerts = "alerts-body"
    jobs_graph = "jobs-graph"
    jobs_table = "jobs-table"
    jobs_note = "jobs-note"
    jobs_sort = "jobs-sort"
    jobs_when = "jobs-when"

    # The charts whose clicks select something, and the dimension a click selects.
    CLICKABLE = {
        users_graph: "users",
        roles_graph: "roles",
        machines_graph: "machines",
        types_graph: "machine_types",
        load_graph: "users",
        sizes_graph: "sizes",
        heatmap_graph: "sizes",
        jobs_graph: "jobs",
    }
    # The tables' clickable columns (a cell click arrives through the same click store as a chart click).
    TABLE_COLUMNS = {"user": "users", "machine": "machines", "job": "jobs"}
    # The charts with a time axis, where dragging a span sets the time range.
    TIME_AXES = (series_graph, heatmap_graph)


# No mode bar: it covers the small charts, and zooming a time axis is a filter here (double-click resets it).
GRAPH_CONFIG = {"displaylogo": False, "displayModeBar": False}
TIME_ZONES = sorted(available_timezones())
PRESET_LABELS = {"24h": "24 h", "7d": "7 d", "30d": "30 d", "90d": "90 d", "all": "All", state.CUSTOM: "Custom"}


def _button_radio(component_id: str, options: dict[str, str], value: str) -> dbc.RadioItems:
    """Radio items drawn as a Bootstrap button group."""
    return dbc.RadioItems(
        id=component_id,
        value=value,
        inline=True,
        options=[{"label": label, "value": key} for key, label in options.items()],
        className="btn-group btn-group-sm",
        inputClassName="btn-check",
        labelClassName="btn btn-outline-secondary",
        labelCheckedClassName="active",
    )


def panel(title: str, body, *, tools=None, note_id: str | None = None, class_name: str = "") -> dbc.Card:
    header = html.Div(
        [html.H2(title, className="panel-title"), html.Div(tools, className="panel-tools")], className="panel-header"
    )
    children = [header, body]
    if note_id:
        children.append(html.Div(id=note_id, className="panel-note"))
    return dbc.Card(dbc.CardBody(children), className=f"panel h-100 {class_name}")


def graph(component_id: str, **kwargs) -> dcc.Graph:
    return dcc.Graph(id=component_id, config=GRAPH_CONFIG, className="panel-graph", **kwargs)


@dataclass(frozen=True)
class SignedIn:
    """Who the page header names; sign_out_csrf is None when signing out is not ours (a proxy's sign-in, a token)."""

    name: str
    role: str
    sign_out_csrf: str | None = None


def signed_in(who: SignedIn) -> html.Div:
    """The signed-in person's name and role, and a sign-out button (a form POST with its CSRF token)."""
    children: list = [html.Span(who.name, className="who-name"), html.Span(who.role, className="who-role")]
    if who.sign_out_csrf is not None:
        children.append(
            html.Form(
                [
                    dcc.Input(type="hidden", name="csrf", value=who.sign_out_csrf),
                    html.Button("Sign out", type="submit", id="sign-out", className="btn btn-sm btn-link sign-out"),
                ],
                method="POST",
                action="/sign-out",
                className="sign-out-form",
            )
        )
    return html.Div(children, id=ID.signed_in, className="who")


def navbar(refresh_seconds: float, with_tools: bool = True, who: SignedIn | None = None) -> html.Header:
    tools = (
        html.Div(
            [
                html.Span(
                    id=ID.live_status, className="live-status", title=f"checks for new data every {refresh_seconds:g} s"
                ),
                dcc.Clipboard(
                    id=ID.copy,
                    title="Copy a link to this view",
                    className="btn btn-sm btn-light copy-link",
                    children="Copy link",
                    copied_children="Link copied",
                ),
                signed_in(who) if who is not None else None,
            ],
            className="nav-right",
        )
        if with_tools
        else html.Div(signed_in(who), className="nav-right")
        if who is not None
        else None
    )
    return html.Header(
        dbc.Container(
            [
                html.Div(
                    [
                        html.Span("clusterdash", className="brand"),
                        html.Span("NFS file server IO by user, machine and IO size", className="brand-sub"),
                    ]
                ),
                tools,
            ],
            fluid=True,
            className="nav-inner",
        ),
        className="topbar",
    )


def filter_bar(defaults: state.View) -> dbc.Card:
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(
                    [
                        html.Div(
                            [
                                html.Label("Time", className="filter-label"),
                                _button_radio(ID.preset, PRESET_LABELS, defaults.preset),
                                dcc.DatePickerRange(
                                    id=ID.range,
                                    updatemode="bothdates",
                                    display_format="YYYY-MM-DD",
                                    start_date_placeholder_text="from",
                                    end_date_placeholder_text="to",
                                    first_day_of_week=1,
                                    clearable=False,
                                    className="filter-dates",
                                ),
                            ],
                            className="filter-group",
                        ),
                        html.Div(
                            [
                                html.Label("Direction", className="filter-label"),
                                _button_radio(
                                    ID.direction, {"both": "Both", "rd": "Reads", "wr": "Writes"}, defaults.direction
                                ),
                            ],
                            className="filter-group",
                        ),
                        html.Div(
                            [
                                html.Label("Metric", className="filter-label"),
                                _button_radio(ID.metric, {"ops": "Operations", "bytes": "Est. bytes"}, defaults.metric),
                            ],
                            className="filter-group",
                            title="Estimated bytes: each bucket's count × the bucket's midpoint",
                        ),
                        html.Div(
                            [
                                html.Label("Time zone", className="filter-label"),
                                dcc.Dropdown(
                                    id=ID.tz,
                                    options=TIME_ZONES,
                                    value=defaults.tz,
                                    clearable=False,
                                    className="filter-tz",
                                ),
                            ],
                            className="filter-group",
                        ),
                    ],
                    className="filter-row",
                ),
                html.Div(
                    [
                        html.Span("Selection", className="filter-label"),
                        html.Div(id=ID.chips, className="chips"),
                        dbc.Button("Clear all", id=ID.clear, size="sm", color="link", className="clear-all"),
                    ],
                    className="filter-row chips-row",
                ),
                html.Div(id=ID.notice, className="filter-notice small text-danger", role="status"),
            ]
        ),
        className="filter-bar",
    )


def chip(dimension: str, value: str, text: str) -> html.Span:
    """One active selection, with a button that removes it."""
    return html.Span(
        [
            html.Span(text, className="chip-text"),
            html.Button(
                "×",
                id={"type": ID.chip_remove, "dimension": dimension, "value": value},
                className="chip-remove",
                title=f"Remove {text}",
                n_clicks=0,
            ),
        ],
        className=f"chip chip-{dimension}",
    )


def user_machine_table(component_id: str = ID.table, clickable: tuple[str, ...] = ("user", "machine")):
    """Sortable; a click on a user or machine cell (a job's, in the jobs table) selects it like a bar click. Columns
    are set by the callback."""
    return dash_table.DataTable(
        id=component_id,
        columns=[],
        data=[],
        sort_action="native",
        sort_by=[],
        page_size=12,
        cell_selectable=True,
        style_as_list_view=True,
        style_table={"overflowX": "auto"},
        style_header={"fontWeight": "600", "backgroundColor": "#f8f9fa", "borderBottom": "1px solid #dee2e6"},
        style_cell={
            "fontFamily": figures.FONT,
            "fontSize": "13px",
            "padding": "4px 8px",
            "textAlign": "left",
            "border": "none",
            "borderBottom": "1px solid #f1f3f5",
        },
        style_cell_conditional=[{"if": {"column_type": "numeric"}, "textAlign": "right"}],
        style_data_conditional=[{"if": {"column_id": list(clickable)}, "cursor": "pointer", "color": "#0b5ed7"}],
    )


def jobs_panel() -> dbc.Card:
    """Top jobs by the view's metric (bars: a click selects the job) beside their details; in the range, or those
    running in the newest hour."""
    tools = [
        html.Span("rank by", className="tool-label"),
        dcc.Dropdown(
            id=ID.jobs_sort,
            value="operations",
            clearable=False,
            searchable=False,
            options=[
                {"label": "the metric", "value": "operations"},
                {"label": "small-IO share", "value": "small_share"},
            ],
            className="tool-select",
        ),
        _button_radio(ID.jobs_when, {"range": "In range", "now": "Running now"}, "range"),
    ]
    body = dbc.Row(
        [dbc.Col(graph(ID.jobs_graph), lg=5), dbc.Col(user_machine_table(ID.jobs_table, ("job",)), lg=7)],
        className="g-2",
    )
    return panel("Jobs", body, tools=tools, note_id=ID.jobs_note, class_name="jobs-panel")


def load_panel() -> dbc.Card:
    """Who loaded the server: the two rankings made comparable (panels.load draws it)."""
    return panel(
        "Who loaded the server",
        html.Div([graph(ID.load_graph), html.Div(loadchart.HOW_TO_READ, className="panel-note")]),
    )


def dashboard(defaults: state.View, refresh_seconds: float, who: SignedIn | None = None) -> html.Div:
    stack_options = {"users": "user", "machines": "machine", "machine_types": "machine type", "roles": "role"}
    series_tools = [
        html.Span("stack by", className="tool-label"),
        dcc.Dropdown(
            id=ID.series_stack,
            value=defaults.stack,
            clearable=False,
            searchable=False,
            options=[{"label": v, "value": k} for k, v in stack_options.items()],
            className="tool-select",
        ),
        html.Span("top", className="tool-label"),
        dcc.Dropdown(
            id=ID.series_top,
            value=defaults.top,
            clearable=False,
            searchable=False,
            options=[3, 5, 8, 10, 15],
            className="tool-select tool-narrow",
        ),
    ]
    table_tools = dbc.Button("Download CSV", id=ID.table_csv, size="sm", color="secondary", outline=True)
    return html.Div(
        [
            dcc.Location(id=ID.url, refresh=False),
            dcc.Store(id=ID.view, data=state.to_store(defaults)),
            dcc.Store(id=ID.click),
            dcc.Store(id=ID.data_version),
            dcc.Interval(id=ID.interval, interval=int(refresh_seconds * 1000)),
            dcc.Download(id=ID.table_download),
            navbar(refresh_seconds, who=who),
            dbc.Container(
                [
                    filter_bar(defaults),
                    html.Div(id=ID.profile),
                    html.Div(id=ID.headline, className="headline"),
                    html.Div(id=ID.share),
                    dbc.Row(
                        [
                            dbc.Col(
                                panel(
                                    "IO over time", graph(ID.series_graph), tools=series_tools, note_id=ID.series_note
                                ),
                                lg=8,
                            ),
                            dbc.Col(
                                [
                                    panel("Data health", html.Div(id=ID.health), class_name="h-auto flex-grow-1"),
                                    panel(
                                        "Alerts",
                                        html.Div(id=ID.alerts),
                                        tools=html.A("all alerts", href="/alerts", className="small"),
                                        class_name="h-auto",
                                    ),
                                ],
                                lg=4,
                                className="d-flex flex-column gap-3",
                            ),
                        ],
                        className="g-3 mb-3",
                    ),
                    dbc.Row(
                        [
                            dbc.Col(
                                panel(
                                    "Top users",
                                    dbc.Row(
                                        [
                                            dbc.Col(graph(ID.users_graph), md=8),
                                            dbc.Col(
                                                [html.Div("by role", className="sub-title"), graph(ID.roles_graph)],
                                                md=4,
                                            ),
                                        ],
                                        className="g-2",
                                    ),
                                ),
                                lg=6,
                            ),
                            dbc.Col(
                                panel(
                                    "Machines, grouped by type",
                                    dbc.Row(
                                        [
                                            dbc.Col(graph(ID.machines_graph), md=8),
                                            dbc.Col(
                                                [
                                                    html.Div("by machine type", className="sub-title"),
                                                    graph(ID.types_graph),
                                                ],
                                                md=4,
                                            ),
                                        ],
                                        className="g-2",
                                    ),
                                ),
                                lg=6,
                            ),
                        ],
                        className="g-3 mb-3",
                    ),
                    dbc.Row(dbc.Col(load_panel()), className="g-3 mb-3"),
                    dbc.Row(
                        [
                            dbc.Col(panel("IO size distribution", graph(ID.sizes_graph)), lg=5),
                            dbc.Col(panel("IO size over time", graph(ID.heatmap_graph)), lg=7),
                        ],
                        className="g-3 mb-3",
                    ),
                    dbc.Row(dbc.Col(jobs_panel()), className="g-3 mb-3"),
                    panel(
                        "Users × machines",
                        user_machine_table(),
                        tools=table_tools,
                        note_id=ID.table_note,
                        class_name="mb-4",
                    ),
                    html.Footer(
                        [
                            "Click a bar to select it, shift-click to add it to the selection; drag across a time "
                            "axis to zoom the time range. Every panel is filtered by every selection except its own, "
                            "whose selected bars are highlighted. ",
                            html.Span("Estimated bytes are each bucket's count × its midpoint."),
                        ],
                        className="page-footer",
                    ),
                ],
                fluid=True,
                className="page",
            ),
        ]
    )


def empty_database(db_url: str, refresh_seconds: float, who: SignedIn | None = None) -> html.Div:
    """What an empty database shows: the exact commands that fill it. Reloads itself when data arrives."""
    db_option = f"--db {db_url} " if db_url != "sqlite:///data/clusterdash.db" else ""
    return html.Div(
        [
            dcc.Location(id=ID.empty_url, refresh=True),
            dcc.Interval(id=ID.empty_interval, interval=int(refresh_seconds * 1000)),
            navbar(refresh_seconds, with_tools=False, who=who),
            dbc.Container(
                dbc.Card(
                    dbc.CardBody(
                        [
                            html.H1("No data yet", className="h4"),
                            html.P(
                                [
                                    "The database ",
                                    html.Code(db_url),
                                    " holds no IO usage log yet. Load the server's log:",
                                ]
                            ),
                            html.Pre(f"clusterdash {db_option}ingest /var/log/io_usage.log", className="command"),
                            html.P("or keep it loaded as the tracer appends to it:"),
                            html.Pre(
                                f"clusterdash {db_option}serve --follow /var/log/io_usage.log", className="command"
                            ),
                            html.P("or try the dashboard on a month of synthetic data:"),
                            html.Pre(f"clusterdash {db_option}demo", className="command"),
                            html.P("This page reloads by itself once data arrives.", className="text-muted small"),
                        ]
                    ),
                    className="empty-card",
                ),
                className="page",
            ),
        ]
    )
