"""`clusterdash serve`: the development server, with the empty-database help, --demo (--live) and --follow.

Production runs the same app factory under gunicorn (see Procfile); this module only adds what a person at a
terminal needs: what to run when there is no data yet, a demo on request, and a follower thread that keeps
ingesting a growing log while the dashboard is up. It is the web tier's one seam with the ingest (the imports
below); the app factory, the API and the dashboard never import the ingest.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from clusterdash.db.query import latest_block_epoch
from clusterdash.ingest.demo import ingest_demo, start_live
from clusterdash.ingest.follow import start_follower_thread
from clusterdash.web.app import create_app

DEMO_LOG = Path("data/demo/io_usage.log")


def database_is_empty(engine) -> bool:
    with engine.connect() as conn:
        return latest_block_epoch(conn) is None


def what_to_run(db_url: str) -> str:
    db = "" if db_url == "sqlite:///data/clusterdash.db" else f"--db {db_url} "
    return (
        f"{db_url} holds no data yet. Load the file server's log with\n"
        f"  clusterdash {db}ingest /var/log/io_usage.log\n"
        f"or follow it while serving:\n"
        f"  clusterdash {db}serve --follow /var/log/io_usage.log\n"
        f"or try a month of synthetic data:\n"
        f"  clusterdash {db}serve --demo\n"
        f"The page shows these commands too, and reloads by itself once data arrives."
    )


def build_demo(engine, echo: Callable[[str], None], out: Path = DEMO_LOG, after_commit=None) -> None:
    ingest_demo(
        engine,
        out,
        days=30,
        seed=0,
        on_written=lambda written: echo(
            f"empty database: wrote a demo log {out} ({written.blocks:,} hours) and ingesting it..."
        ),
        after_commit=after_commit,
    )


def run(
    settings: Mapping[str, Any],
    *,
    demo: bool,
    follow: str | None,
    debug: bool,
    echo: Callable[[str], None],
    live: float | None = None,
    alert_setup=None,
) -> None:
    """Build the app from `settings` (which prepares the database), fill it (demo, follower, live demo), serve
    until interrupted. alert_setup (alerts.service.AlertSetup): judged as the demo, the follower or the live demo
    ingest hours, and sent."""
    app = create_app(settings)
    engine = app.clusterdash_engine
    ingesting = demo or bool(follow)
    alerting = _alerting(engine, alert_setup, settings["tz"]) if alert_setup is not None and ingesting else None
    hook = alerting.after_commit if alerting is not None else None
    if database_is_empty(engine):
        if demo:
            build_demo(engine, echo, after_commit=hook)
        elif not follow:
            echo(what_to_run(settings["db"]))
    stop = threading.Event()
    follower = start_follower_thread(engine, follow, settings, stop, after_commit=hook) if follow else None
    if live:  # `--demo --live`: a synthetic hour appended to the demo log and ingested every `live` seconds
        start_live(engine, DEMO_LOG, live, stop, after_commit=hook)
    echo(f"clusterdash: http://{settings['host']}:{settings['port']}/  (database {settings['db']}; Ctrl-C to stop)")
    try:
        app.run(host=settings["host"], port=int(settings["port"]), debug=debug, use_reloader=False)
    finally:
        stop.set()
        if follower is not None:
            follower.join(timeout=10)
        if alerting is not None:
            alerting.close()
        engine.dispose()


def _alerting(engine, setup, tz: str):
    """The alerts' evaluator and sender, started, with links to this dashboard's views."""
    from clusterdash.alerts.service import Alerting
    from clusterdash.web.state import alert_view_in

    return Alerting(engine, setup, view=alert_view_in(tz)).start()
