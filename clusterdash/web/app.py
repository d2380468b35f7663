"""The app factory: one Flask server carrying the dashboard and the JSON API, built from settings.

`clusterdash serve` and gunicorn (`gunicorn 'clusterdash.web.app:create_server()'`) both come
through here. Callbacks are bound to the app instance built here, never to Dash's process-wide
registry, so tests can build as many apps as they like.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dash
import flask
from dash import html

from clusterdash import config
from clusterdash.auth.settings import check_exposure
from clusterdash.db.engine import make_engine
from clusterdash.db.setup import prepare_database
from clusterdash.errors import UserError
from clusterdash.web import alertsview, layout, limits, lookups, state
from clusterdash.web.api import register_api
from clusterdash.web.auth import current_scope, install_auth
from clusterdash.web.callbacks import register_callbacks
from clusterdash.web.signin import register_signin, signed_in

# Dash resolves a relative assets_folder against the package directory; the assets live at the top level.
ASSETS = Path(__file__).resolve().parents[2] / "assets"


def create_app(settings: Mapping[str, Any] | None = None) -> dash.Dash:
    """The dashboard and the API on one Flask server. `settings` overrides the CLUSTERDASH_* environment."""
    values = config.from_environment(**dict(settings or {}))
    db_url = config.normalize_db_url(str(values["db"]))
    rules = alertsview.rules_from_settings(values)  # a bad rule file stops the start, naming the rule and field
    engine = make_engine(db_url)
    # Tables, and rollups in the display zone (so series read whole days of that zone): once, before serving.
    prepare_database(engine, values["tz"])
    defaults = state.View(tz=values["tz"])
    refresh = float(values["refresh"])
    alerts = alertsview.AlertsView(rules, defaults)

    server = flask.Flask("clusterdash", static_folder=None)  # every file is Dash's or under /assets
    gate = install_auth(server, engine, values)  # first: every request passes the gate before anything else
    register_signin(server, gate)
    register_api(server, engine, values, scope=current_scope, alerts=alerts)
    alertsview.register_page(server, engine, alerts)
    app = dash.Dash(
        "clusterdash",
        server=server,
        assets_folder=str(ASSETS),
        title="clusterdash",
        update_title=None,  # no "Updating..." flicker in the tab title on every refresh
        serve_locally=True,  # every script from this server: cluster networks are often air-gapped
        compress=False,
    )
    app.config.suppress_callback_exceptions = False

    def page():
        # Evaluated per page load, so a database filled after start-up shows without a restart.
        who = signed_in(gate)
        if lookups.latest_epoch(engine) is None:
            return layout.empty_database(db_url, refresh, who)
        return layout.dashboard(defaults, refresh, who)

    app.layout = page
    app.validation_layout = html.Div([layout.dashboard(defaults, refresh), layout.empty_database(db_url, refresh)])
    register_callbacks(app, engine, defaults, current_scope, gate.config.show_everyone_else, alerts.panel)
    limits.install(app)
    gate.script_hashes = list(app.csp_hashes())  # the one inline script Dash writes into the page
    app.clusterdash_engine = engine  # the app's database, prepared: `serve` runs its demo and follower on it
    app.clusterdash_alerts = alerts  # the rules it shows, and how alerts are shown
    return app


def create_server() -> flask.Flask:
    """For gunicorn: settings come from the CLUSTERDASH_* environment. gunicorn does not say where it listens, so
    serving without sign-in needs CLUSTERDASH_PUBLIC_WITHOUT_AUTH=1 (check_exposure). A setting that cannot be
    used stops it with one line (gunicorn prints an AppImportError's message alone), not a traceback."""
    from gunicorn.errors import AppImportError

    try:
        values = config.from_environment()
        check_exposure(str(values["auth"]).strip().lower(), None, bool(values["public_without_auth"]))
        return create_app().server
    except UserError as exc:
        raise AppImportError(f"clusterdash: {exc}") from None
