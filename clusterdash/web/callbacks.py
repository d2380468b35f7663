"""Callbacks, bound to one app instance inside the factory: wiring only.

Every callback's body is a plain function elsewhere (interactions.next_view for the view,
panels.* for the panels), so the benchmark can time exactly what a callback runs, and tests
can call it without Dash. Data flows one way:

    URL / controls / clicks --(on_view_input)--> URL + ID.view store --(one callback per panel)--> panels
    dcc.Interval --(check_for_new_data)--> ID.data_version --> panels redraw, the view is untouched

Every callback reads the view store through `seen`, which sets whose IO the request may see from the signed-in
principal (web/auth.py), whatever the browser sent: a crafted callback body can narrow a question, never widen
it (the store's own copy of that field is dropped by state.from_store).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import dash
from dash import ALL, Input, Output, State, ctx, no_update
from sqlalchemy import Engine

from clusterdash.errors import BadParameter
from clusterdash.web import inputs, interactions, jobpanel, panels, state, usertable
from clusterdash.web.layout import ID

# Callback argument name -> (the input, the key interactions.next_view knows its value by).
VIEW_INPUTS = {
    "pathname": (Input(ID.url, "pathname"), "url.pathname"),
    "search": (Input(ID.url, "search"), "url.search"),
    "preset": (Input(ID.preset, "value"), ID.preset),
    "start_date": (Input(ID.range, "start_date"), "range.start_date"),
    "end_date": (Input(ID.range, "end_date"), "range.end_date"),
    "direction": (Input(ID.direction, "value"), ID.direction),
    "metric": (Input(ID.metric, "value"), ID.metric),
    "tz": (Input(ID.tz, "value"), ID.tz),
    "stack": (Input(ID.series_stack, "value"), ID.series_stack),
    "top": (Input(ID.series_top, "value"), ID.series_top),
    "click": (Input(ID.click, "data"), ID.click),
    "series_relayout": (Input(ID.series_graph, "relayoutData"), ID.series_graph),
    "heatmap_relayout": (Input(ID.heatmap_graph, "relayoutData"), ID.heatmap_graph),
    "chips": (Input({"type": ID.chip_remove, "dimension": ALL, "value": ALL}, "n_clicks"), "chips"),
    "clear": (Input(ID.clear, "n_clicks"), ID.clear),
}
VIEW_OUTPUTS = {
    "pathname": Output(ID.url, "pathname"),
    "search": Output(ID.url, "search"),
    "view": Output(ID.view, "data"),
    "chips": Output(ID.chips, "children"),
    "preset": Output(ID.preset, "value"),
    "start_date": Output(ID.range, "start_date"),
    "end_date": Output(ID.range, "end_date"),
    "direction": Output(ID.direction, "value"),
    "metric": Output(ID.metric, "value"),
    "tz": Output(ID.tz, "value"),
    "stack": Output(ID.series_stack, "value"),
    "top": Output(ID.series_top, "value"),
    "notice": Output(ID.notice, "children"),
}


def view_outputs(engine: Engine, trigger, values: dict, current: dict | None, defaults: state.View) -> dict:
    """The view callback's body: the next view, and everything that shows it (URL, store, controls, chips).

    Every input is checked by the API's rules first (web/inputs.py, state.from_store): a value no control can
    produce is a BadParameter, a 400 naming it. A change the view refuses (a range whose end is before its start)
    leaves the view as it was and says why in the notice. A view read from a URL has its range held to the
    stored data, and names nothing stored has are pointed out (with the closest stored names)."""
    inputs.check_trigger(trigger)
    inputs.check_view_inputs(values)
    if trigger == ID.clear and not values.get(ID.clear):
        return dict.fromkeys(VIEW_OUTPUTS, no_update)
    before = state.from_store(current) if current else defaults
    from_url = trigger is None or trigger == ID.url
    notice = ""
    try:
        view = interactions.next_view(trigger, values, before, defaults, panels.known_sizes(engine))
    except BadParameter as exc:
        view, notice = before, str(exc)
    if from_url:
        view, notice = panels.checked_link(engine, view)
    pathname, search = interactions.url_for(view, defaults)
    start_date, end_date = interactions.picker_dates(view, panels.latest_epoch(engine))
    return {
        # Writing the URL pushes a history entry; a view that came from the URL must not push it again.
        "pathname": no_update if from_url or pathname == values.get("url.pathname") else pathname,
        "search": no_update if from_url or search == (values.get("url.search") or "") else search,
        "view": state.to_store(view),
        "chips": panels.chips(view),
        "preset": view.preset,
        "start_date": start_date,
        "end_date": end_date,
        "direction": view.direction,
        "metric": view.metric,
        "tz": view.tz,
        "stack": view.stack,
        "top": view.top,
        "notice": notice,
    }


def register_callbacks(
    app: dash.Dash,
    engine: Engine,
    defaults: state.View,
    scope: Callable[[], tuple[str, ...] | None],
    show_everyone_else: bool = True,
    alerts_panel: Callable[[Engine, state.View], Any] | None = None,
) -> None:
    """The callbacks on `app`; `scope()` is the request's access scope (web.auth.current_scope); alerts_panel: the
    alerts panel's body, (engine, view) -> children (web/alertsview.py)."""

    def seen(store) -> state.View:
        return replace(state.from_store(store), visible_users=scope())

    @app.callback(
        output=VIEW_OUTPUTS,
        inputs={name: spec[0] for name, spec in VIEW_INPUTS.items()},
        state={"current": State(ID.view, "data")},
    )
    def on_view_input(current, **arguments):
        trigger = ctx.triggered_id  # a component id; a dict for a chip's remove button
        if isinstance(trigger, dict) and not any(t["value"] for t in ctx.triggered):
            return dict.fromkeys(VIEW_OUTPUTS, no_update)  # chips (re)appearing with n_clicks 0, not a click
        values = {VIEW_INPUTS[name][1]: value for name, value in arguments.items()}
        return view_outputs(engine, dict(trigger) if isinstance(trigger, dict) else trigger, values, current, defaults)

    # A chart click or table cell click -> {graph, value, add}: in the browser, where the shift key is known.
    app.clientside_callback(
        dash.ClientsideFunction("clusterdash", "chartClick"),
        Output(ID.click, "data"),
        [Input(graph, "clickData") for graph in ID.CLICKABLE]
        + [Input(ID.table, "active_cell"), Input(ID.jobs_table, "active_cell")],
        prevent_initial_call=True,
    )
    app.clientside_callback(
        dash.ClientsideFunction("clusterdash", "currentLink"),
        Output(ID.copy, "content"),
        Input(ID.copy, "n_clicks"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output(ID.data_version, "data"),
        Output(ID.live_status, "children"),
        Input(ID.interval, "n_intervals"),
        State(ID.data_version, "data"),
        State(ID.view, "data"),
    )
    def check_for_new_data(_n, version, view):
        new_version, status = panels.live_status(engine, seen(view))
        return (no_update if new_version == version else new_version), status

    @app.callback(Output(ID.empty_url, "href"), Input(ID.empty_interval, "n_intervals"), prevent_initial_call=True)
    def reload_when_data_arrives(_n):
        return "/" if panels.latest_epoch(engine) is not None else no_update

    def panel(output: Output, body, *extra_inputs):
        """One callback per panel: (view, data version) -> body(engine, view)."""

        @app.callback(output, Input(ID.view, "data"), Input(ID.data_version, "data"), *extra_inputs)
        def draw(view, _version, *extra):
            return body(engine, seen(view), *extra)

        draw.__name__ = f"draw_{body.__name__}"
        return draw

    panel(Output(ID.headline, "children"), panels.headline)
    if show_everyone_else:
        panel(Output(ID.share, "children"), panels.share)
    panel(Output(ID.profile, "children"), jobpanel.profile)
    panel(Output(ID.health, "children"), panels.health)
    if alerts_panel is not None:
        panel(Output(ID.alerts, "children"), alerts_panel)
    panel(Output(ID.series_graph, "figure"), panels.series)
    panel(Output(ID.users_graph, "figure"), panels.users)
    panel(Output(ID.roles_graph, "figure"), panels.roles)
    panel(Output(ID.machines_graph, "figure"), panels.machines)
    panel(Output(ID.types_graph, "figure"), panels.machine_types)
    panel(Output(ID.load_graph, "figure"), panels.load)
    panel(Output(ID.sizes_graph, "figure"), panels.sizes)
    panel(Output(ID.heatmap_graph, "figure"), panels.heatmap)
    panel(
        [
            Output(ID.table, "columns"),
            Output(ID.table, "data"),
            Output(ID.table, "style_data_conditional"),
            Output(ID.table_note, "children"),
        ],
        usertable.table,
    )

    panel(
        [
            Output(ID.jobs_graph, "figure"),
            Output(ID.jobs_table, "columns"),
            Output(ID.jobs_table, "data"),
            Output(ID.jobs_table, "style_data_conditional"),
            Output(ID.jobs_note, "children"),
        ],
        jobpanel.jobs,
        Input(ID.jobs_sort, "value"),
        Input(ID.jobs_when, "value"),
    )

    @app.callback(
        Output(ID.table_download, "data"),
        Input(ID.table_csv, "n_clicks"),
        State(ID.view, "data"),
        prevent_initial_call=True,
    )
    def download_table(_n, view):
        return usertable.csv_download(engine, seen(view))
