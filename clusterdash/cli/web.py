"""`clusterdash serve`: the dashboard and the API (a development server; production runs gunicorn)."""

from __future__ import annotations

import click

from clusterdash import config
from clusterdash.cli.base import cli, friendly_errors, setting_option


@cli.command()
@setting_option("host")
@setting_option("port", type=int)
@setting_option("tz")
@setting_option("refresh", type=float)
@setting_option("auth", type=click.Choice(config.AUTH_MODES, case_sensitive=False))
@setting_option("public_without_auth", "--i-know-this-is-public", "public_without_auth", is_flag=True)
@setting_option("alerts", "--alerts", metavar="PATH")
@click.option("--demo", is_flag=True, help="When the database is empty, fill it with a month of synthetic data first.")
@click.option(
    "--follow",
    "follow_path",
    type=click.Path(dir_okay=False),
    help="Keep ingesting this log as it grows and rotates, while serving.",
)
@click.option(
    "--live",
    is_flag=True,
    help="With --demo: keep appending a synthetic hour to the demo log and ingesting it, one every --live-interval "
    "seconds (the demo's clock runs ahead, an hour per interval), to see the dashboard refresh by itself.",
)
@click.option(
    "--live-interval",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds between two hours appended by --live.",
)
@click.option("--debug", is_flag=True, help="Dash debug mode (error pop-ups, callback graph). Never in production.")
@click.pass_obj
@friendly_errors
def serve(
    obj, host, port, tz, refresh, auth, public_without_auth, alerts, demo, follow_path, live, live_interval, debug
):
    """Serve the dashboard and the JSON API (a development server; in production use gunicorn, see Procfile).

    --auth says how people sign in (the other access settings, CLUSTERDASH_LDAP_URL and so on, come from the
    environment; see the README). With --auth none (the default) anyone who reaches the port sees every user's
    IO, so it serves on a loopback address only, unless --i-know-this-is-public.

    With an empty database it prints the command that fills it (the page shows it
    too), or with --demo builds a month of synthetic data first, ending at the
    current hour; --demo --live then keeps adding synthetic hours while it serves.
    Without --demo or --follow it only reads: a SQLite file that does not exist
    is an error (a mistyped path), not created.

    With --alerts (or CLUSTERDASH_ALERTS) the rules are checked at start and
    shown read-only (the Alerts panel, /alerts, /api/alerts); with --follow or
    --demo they are judged as hours are ingested, and what fires is sent.
    --demo without a rule file uses rules tuned to fire on the demo data.

    \b
    Example:
      clusterdash serve --demo
      clusterdash serve --demo --live --refresh 2
      clusterdash --db sqlite:///nfs.db serve --follow /var/log/io_usage.log --port 8080
      clusterdash serve --host 0.0.0.0 --auth local     # accounts from `clusterdash user add`
    """
    from clusterdash.auth.settings import check_exposure
    from clusterdash.cli.alerts import alert_setup
    from clusterdash.db.periods import zone
    from clusterdash.web.serve import run

    check_exposure(auth.lower(), host, public_without_auth)

    if live and not demo:
        raise click.UsageError("--live goes with --demo: it keeps the demo log growing")
    if not demo and not follow_path:  # then it only reads
        obj.require_database()
    zone(tz)
    if demo and not alerts:
        from clusterdash.alerts.service import DEMO_RULES

        alerts = str(DEMO_RULES)
    setup = alert_setup(alerts, tz)  # a bad rule file or setting stops here, before anything is read
    settings = config.from_environment(
        db=obj["db_url"],
        host=host,
        port=port,
        tz=tz,
        refresh=refresh,
        auth=auth.lower(),
        public_without_auth=public_without_auth,
        alerts=alerts,
    )
    run(
        settings,
        demo=demo,
        follow=follow_path,
        debug=debug,
        echo=click.echo,
        live=live_interval if live else None,
        alert_setup=setup,
    )
