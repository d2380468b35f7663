"""The filter bar: the time range (presets, the hours shown, back and reset, the range editor), direction, metric,
the display zone, and the chips of the selection with Clear all. Structure only: the view callback fills it."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from clusterdash.web import state, zones
from clusterdash.web.ids import ID

HOUR_OPTIONS = [{"label": f"{hour:02d}:00", "value": hour} for hour in range(24)]
PRESET_LABELS = {"24h": "24 h", "7d": "7 d", "30d": "30 d", "90d": "90 d", "all": "All", state.CUSTOM: "Custom"}


def button_radio(component_id: str, options: dict[str, str], value: str) -> dbc.RadioItems:
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


def _range_tool(label: str, component_id: str, title: str) -> dbc.Button:
    """A small link-like button beside the time presets, disabled until it has something to do."""
    return dbc.Button(
        label, id=component_id, size="sm", color="link", disabled=True, className="range-tool", title=title
    )


def filter_bar(defaults: state.View) -> dbc.Card:
    default_range = PRESET_LABELS[defaults.preset]
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(
                    [
                        html.Div(
                            [
                                html.Label("Time", className="filter-label"),
                                button_radio(ID.preset, PRESET_LABELS, defaults.preset),
                                dbc.Button(
                                    id=ID.range_text,
                                    size="sm",
                                    color="link",
                                    className="range-text",
                                    title="The hours shown; click to change them by the hour",
                                ),
                                _range_tool(
                                    "↶ back",
                                    ID.range_back,
                                    "Back to the previous time range (or double-click the time chart)",
                                ),
                                _range_tool("reset", ID.range_reset, f"Back to the default range ({default_range})"),
                            ],
                            className="filter-group",
                        ),
                        html.Div(
                            [
                                html.Label("Direction", className="filter-label"),
                                button_radio(
                                    ID.direction, {"both": "Both", "rd": "Reads", "wr": "Writes"}, defaults.direction
                                ),
                            ],
                            className="filter-group",
                        ),
                        html.Div(
                            [
                                html.Label("Metric", className="filter-label"),
                                button_radio(ID.metric, {"ops": "Operations", "bytes": "Est. bytes"}, defaults.metric),
                            ],
                            className="filter-group",
                            title="Estimated bytes: each bucket's count × the bucket's midpoint",
                        ),
                        html.Div(
                            [
                                html.Label("Time zone", className="filter-label"),
                                dcc.Dropdown(
                                    id=ID.tz,
                                    options=zones.choices(defaults.tz),
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
                range_editor(),
                html.Div(
                    [
                        html.Span("Selection", className="filter-label"),
                        html.Div(id=ID.chips, className="chips"),
                        dbc.Button(
                            "Clear all",
                            id=ID.clear,
                            size="sm",
                            color="link",
                            className="clear-all",
                            title="Clear every selection; the time range stays (“reset” beside it resets it)",
                        ),
                    ],
                    className="filter-row chips-row",
                ),
                html.Div(id=ID.notice, className="filter-notice small text-danger", role="status"),
            ]
        ),
        className="filter-bar",
    )


def range_editor() -> html.Div:
    """ "Custom": from and to, each a date (picked, or typed as YYYY-MM-DD) and an hour, in the display zone.
    Shown while "Custom" is chosen; filled with the range shown; Apply sets it, or says why it cannot."""

    def end(label: str, date_id: str, hour_id: str) -> html.Div:
        return html.Div(
            [
                html.Span(label, className="filter-label"),
                dcc.DatePickerSingle(
                    id=date_id,
                    display_format="YYYY-MM-DD",
                    first_day_of_week=1,
                    placeholder="date",
                    className="range-date",
                ),
                dcc.Dropdown(
                    id=hour_id, options=HOUR_OPTIONS, clearable=False, placeholder="hour", className="range-hour"
                ),
            ],
            className="filter-group",
        )

    return html.Div(
        [
            end("From", ID.range_from_date, ID.range_from_hour),
            end("to", ID.range_to_date, ID.range_to_hour),
            html.Span(id=ID.range_zone, className="range-zone"),
            dbc.Button("Apply", id=ID.range_apply, size="sm", color="primary"),
            dbc.Button("Cancel", id=ID.range_cancel, size="sm", color="link"),
            html.Div(id=ID.range_message, className="range-message", role="alert"),
        ],
        id=ID.range_editor,
        className="filter-row range-editor d-none",
    )


def chip(dimension: str, value: str, text: str, href: str | None = None) -> html.Span:
    """One active selection, with a button that removes it (and for a user or machine, a link to its profile)."""
    link = (
        [dcc.Link("↗", href=href, className="chip-link", title="Open the profile, keeping this view")] if href else []
    )
    return html.Span(
        [
            html.Span(text, className="chip-text"),
            *link,
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
