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
from clusterdash.web import inputs, interactions, jobpanel, lookups, panels, state, usertable, zones
from clusterdash.web.ids import ID

# Callback argument name -> (the input, the key interactions.next_view knows its value by).
VIEW_INPUTS = {
    "pathname": (Input(ID.url, "pathname"), "url.pathname"),
    "search": (Input(ID.url, "search"), "url.search"),
    "preset": (Input(ID.preset, "value"), ID.preset),
    "edit": (Input(ID.range_text, "n_clicks"), ID.range_text),
    "apply": (Input(ID.range_apply, "n_clicks"), ID.range_apply),
    "cancel": (Input(ID.range_cancel, "n_clicks"), ID.range_cancel),
    "back": (Input(ID.range_back, "n_clicks"), ID.range_back),
    "reset": (Input(ID.range_reset, "n_clicks"), ID.range_reset),
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
    "sort_by": (Input(ID.table, "sort_by"), ID.table),
}
# Read when an input fires, never a trigger themselves: the view before, the range history, the editor's fields.
VIEW_STATES = {
    "current": (State(ID.view, "data"), "current"),
    "history": (State(ID.range_history, "data"), ID.range_history),
    "from_date": (State(ID.range_from_date, "date"), interactions.FROM_DATE),
    "from_hour": (State(ID.range_from_hour, "value"), interactions.FROM_HOUR),
    "to_date": (State(ID.range_to_date, "date"), interactions.TO_DATE),
    "to_hour": (State(ID.range_to_hour, "value"), interactions.TO_HOUR),
}
VIEW_OUTPUTS = {
    "pathname": Output(ID.url, "pathname"),
    "search": Output(ID.url, "search"),
    "view": Output(ID.view, "data"),
    "chips": Output(ID.chips, "children"),
    "preset": Output(ID.preset, "value"),
    "editor": Output(ID.range_editor, "className"),
    "from_date": Output(ID.range_from_date, "date"),
    "from_hour": Output(ID.range_from_hour, "value"),
    "to_date": Output(ID.range_to_date, "date"),
    "to_hour": Output(ID.range_to_hour, "value"),
    "zone": Output(ID.range_zone, "children"),
    "message": Output(ID.range_message, "children"),
    "back_disabled": Output(ID.range_back, "disabled"),
    "reset_disabled": Output(ID.range_reset, "disabled"),
    "history": Output(ID.range_history, "data"),
    "tz_options": Output(ID.tz, "options"),
    "sort_by": Output(ID.table, "sort_by"),
    "direction": Output(ID.direction, "value"),
    "metric": Output(ID.metric, "value"),
    "tz": Output(ID.tz, "value"),
    "stack": Output(ID.series_stack, "value"),
    "top": Output(ID.series_top, "value"),
    "notice": Output(ID.notice, "children"),
}


EDITOR_CLASS = "filter-row range-editor"


def view_outputs(
    engine: Engine,
    trigger,
    values: dict,
    current: dict | None,
    defaults: state.View,
    scope: tuple[str, ...] | None = None,
) -> dict:
    """The view callback's body: the next view, and everything that shows it (URL, store, controls, chips, the
    range editor and history). `values` holds every input and state by its key in VIEW_INPUTS / VIEW_STATES;
    `scope` is whose IO the asker may see (web.auth.current_scope): a link's names are checked within it.

    Every input is checked by the API's rules first (web/inputs.py, state.from_store): a value no control can
    produce is a BadParameter, a 400 naming it. A change the view refuses leaves the view as it was and says why:
    beside the range editor for the editor's range (an end not after its start), in the notice otherwise. A view
    read from a URL has its range held to the stored data, as has a range set in the page (the notice says when that
    changed it), and a link's names that nothing stored has are pointed out (with the closest stored names)."""
    inputs.check_trigger(trigger)
    inputs.check_view_inputs(values)
    if isinstance(trigger, str) and trigger in inputs.BUTTONS and not values.get(trigger):
        return dict.fromkeys(VIEW_OUTPUTS, no_update)
    # The store holds what the panels draw; the table's sort lives in the table (and the URL).
    before = state.from_store(current) if current else defaults
    before = replace(before, sort=interactions.sort_of(values.get(ID.table)), visible_users=scope)
    from_url = trigger is None or trigger == ID.url
    notice = ""
    try:
        view = interactions.next_view(trigger, values, before, defaults, lookups.known_sizes(engine))
    except BadParameter as exc:
        if trigger == ID.range_apply:  # the range editor's input: said beside it, the view unchanged
            return {**dict.fromkeys(VIEW_OUTPUTS, no_update), "message": exc.message, "editor": EDITOR_CLASS}
        view, notice = before, str(exc)
    view = replace(view, visible_users=scope)  # (a view read from the URL starts from the defaults)
    if from_url:
        view, notice = lookups.checked_link(engine, view)
    elif interactions.range_of(view) != interactions.range_of(before):  # the editor, a drag, back
        view, notice = lookups.held_range(engine, view)
    pathname, search = interactions.url_for(view, defaults)
    history = interactions.history_after(trigger, values.get(ID.range_history), before, view)
    # "Custom" (or a click on the range's text) opens the editor; it stays open while "Custom" is chosen and
    # nothing else set the range.
    opened = trigger == ID.range_text or (trigger == ID.preset and values.get(ID.preset) == state.CUSTOM)
    kept_open = values.get(ID.preset) == state.CUSTOM and trigger not in (None, *interactions.RANGE_TRIGGERS)
    preset = state.CUSTOM if opened or kept_open else view.preset
    refill = trigger in (None, *interactions.RANGE_TRIGGERS, ID.range_text, ID.tz)
    refill = refill or interactions.range_of(view) != interactions.range_of(before)
    fields = interactions.editor_fields(lookups.window(engine, view), view.tz) if refill else {}
    store = state.to_store(replace(view, sort=""))
    remembered = values.get(ID.range_history) if history is None else history
    return {
        # Writing the URL pushes a history entry; a view that came from the URL must not push it again.
        "pathname": no_update if from_url or pathname == values.get("url.pathname") else pathname,
        "search": no_update if from_url or search == (values.get("url.search") or "") else search,
        # Unchanged, the store is not written: every panel would redraw the same figure.
        "view": store if trigger is None or store != current else no_update,
        "chips": panels.chips(view),
        "preset": preset,
        "editor": EDITOR_CLASS if preset == state.CUSTOM else EDITOR_CLASS + " d-none",
        "from_date": fields.get(interactions.FROM_DATE, no_update),
        "from_hour": fields.get(interactions.FROM_HOUR, no_update),
        "to_date": fields.get(interactions.TO_DATE, no_update),
        "to_hour": fields.get(interactions.TO_HOUR, no_update),
        "zone": f"hours in {view.tz}",
        "message": "",
        "back_disabled": not remembered,
        "reset_disabled": view.preset == defaults.preset,
        "history": no_update if history is None else history,
        "tz_options": no_update if view.tz in zones.choices(defaults.tz) else zones.choices(defaults.tz, view.tz),
        "sort_by": interactions.sort_by(view) if from_url else no_update,
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
        state={name: spec[0] for name, spec in VIEW_STATES.items()},
    )
    def on_view_input(**arguments):
        trigger = ctx.triggered_id  # a component id; a dict for a chip's remove button
        if isinstance(trigger, dict) and not any(t["value"] for t in ctx.triggered):
            return dict.fromkeys(VIEW_OUTPUTS, no_update)  # chips (re)appearing with n_clicks 0, not a click
        specs = {**VIEW_INPUTS, **VIEW_STATES}
        values = {specs[name][1]: value for name, value in arguments.items()}
        current = values.pop("current")
        fired = dict(trigger) if isinstance(trigger, dict) else trigger
        return view_outputs(engine, fired, values, current, defaults, scope())

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
        Output(ID.copy_exact, "content"),
        Input(ID.copy_exact, "n_clicks"),
        State(ID.url, "href"),
        State(ID.view, "data"),
        State(ID.table, "sort_by"),
        prevent_initial_call=True,
    )
    def copy_exact_window(_n, href, view, sort_by):
        inputs.check_copy_inputs(href, sort_by)
        shown = replace(seen(view), sort=interactions.sort_of(sort_by))
        return interactions.exact_link(shown, lookups.window(engine, shown), href or "", defaults)

    # The status line and the range's text follow the view too (their times in its zone, as every time on the
    # page), and the data: a preset's window moves when a new hour lands.
    @app.callback(
        Output(ID.data_version, "data"),
        Output(ID.live_status, "children"),
        Output(ID.range_text, "children"),
        Input(ID.interval, "n_intervals"),
        Input(ID.view, "data"),
        State(ID.data_version, "data"),
    )
    def check_for_new_data(_n, view, version):
        shown = seen(view)
        new_version, status = panels.live_status(engine, shown)
        return (no_update if new_version == version else new_version), status, lookups.range_text(engine, shown)

    @app.callback(Output(ID.empty_url, "href"), Input(ID.empty_interval, "n_intervals"), prevent_initial_call=True)
    def reload_when_data_arrives(_n):
        return "/" if lookups.latest_epoch(engine) is not None else no_update

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
