"""`clusterdash alerts`: check a rule file and replay it over stored data (check), show the alerts' state (list); and
the alerts' wiring for the commands that ingest (`ingest`, `serve`): the rule file and channels checked before
anything is read, the evaluation as the ingest's after-commit hook."""

from __future__ import annotations

import json

import click

from clusterdash import config
from clusterdash.cli.base import cli, echo_rows, friendly_errors, setting_option


def alert_setup(path: str | None, tz: str, default_rules=None):
    """The alert setup from --alerts PATH (or its default) and the CLUSTERDASH_ALERTS_* settings, checked: a
    UserError naming the rule and field, or the setting, otherwise. None when no rule file is set."""
    if not path and default_rules is None:
        return None
    from clusterdash.alerts.service import setup_from_settings

    return setup_from_settings(config.from_environment(alerts=path or None, tz=tz), default_rules=default_rules)


def start_alerting(engine, setup, tz: str):
    """The evaluator and sender for `setup` on `engine`, started; links to the dashboard in the zone `tz`."""
    from clusterdash.alerts.service import Alerting
    from clusterdash.web.state import alert_view_in

    return Alerting(engine, setup, view=alert_view_in(tz)).start()


def alerts_summary(alerting) -> dict:
    total = alerting.evaluator.total
    return {
        "hours_judged": len(total.hours),
        "opened": total.opened,
        "resolved": total.resolved,
        "failed_judgements": alerting.evaluator.failures,
    }


def echo_alerts_summary(summary: dict) -> None:
    click.echo(
        f"alerts: {summary['hours_judged']:,} hour(s) judged, {summary['opened']:,} alert(s) opened, "
        f"{summary['resolved']:,} resolved"
        + (f"; {summary['failed_judgements']} judgement(s) failed (logged)" if summary["failed_judgements"] else "")
    )


@cli.group()
def alerts():
    """Alert rules and alerts: check a rule file and replay it over stored data, list the alerts.

    Rules are a TOML file (docs/alerts.example.toml) given as --alerts PATH or CLUSTERDASH_ALERTS; `ingest` and
    `serve` judge them as hours arrive and send what fires (CLUSTERDASH_ALERTS_SMTP_HOST, ..._WEBHOOK).

    \b
    Example:
      clusterdash alerts check --alerts rules.toml --dry-run --since 30d
      clusterdash alerts list --state open
    """


@alerts.command()
@setting_option("alerts", "--alerts", metavar="PATH")
@click.option("--dry-run", is_flag=True, help="Replay the rules over the stored hours and print what would have fired.")
@click.option(
    "--since",
    default="7d",
    show_default=True,
    help="With --dry-run: how far back from the newest stored hour (90m, 24h, 7d, 365d).",
)
@setting_option("tz")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (times as ISO-8601 UTC).")
@click.pass_obj
@friendly_errors
def check(obj, alerts, dry_run, since, tz, as_json):
    """Check a rule file and the alert settings; with --dry-run, replay the rules over stored data.

    Every problem in the file is listed, each naming the rule and the field. With --dry-run the rules are judged
    hour by hour over the stored hours of the last --since, cooldowns included, as they would have been as the
    hours arrived: nothing is stored or sent. Tune thresholds this way before turning mail on.

    \b
    Example:
      clusterdash alerts check --alerts /etc/clusterdash/rules.toml --dry-run --since 30d
    """
    from clusterdash.alerts.rules import describe, format_duration
    from clusterdash.db.periods import zone

    zone(tz)
    if not alerts:
        raise click.UsageError("no rule file: give --alerts PATH or set CLUSTERDASH_ALERTS")
    span = _since(since)
    setup = alert_setup(alerts, tz)
    rules = setup.rules
    report: dict = {
        "rules": [{"name": r.name, "enabled": r.enabled, "summary": describe(r)} for r in rules.rules],
        "channels": _channels(setup),
    }
    if not as_json:
        click.echo(f"{rules.source}: {len(rules.rules)} rule(s), {len(rules.enabled())} enabled")
        for rule in rules.rules:
            state = "" if rule.enabled else " [disabled]"
            click.echo(
                f"  {rule.name} ({rule.severity}){state}: {describe(rule)}; cooldown {format_duration(rule.cooldown)};"
                f" tells {rule.recipients}"
            )
        click.echo(f"channels: {report['channels']}")
    if dry_run:
        report["dry_run"] = _dry_run(obj, setup, span, tz, as_json)
    if as_json:
        click.echo(json.dumps(report, indent=2))


def _since(text: str) -> int:
    from clusterdash.alerts.rules import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None


def _recent(obj, span: int, nothing: str):
    """(engine, start, end): a database with data (else a one-line error ending in `nothing`), and the `span`
    seconds of hours that end with its newest stored hour."""
    from clusterdash.db.alerts.hourly import latest_hour
    from clusterdash.db.periods import HOUR
    from clusterdash.db.setup import schema_is_initialised

    obj.require_database()
    engine = obj.engine()
    if not schema_is_initialised(engine):
        raise click.ClickException(f"{obj['db_url']} holds no clusterdash data yet: {nothing}")
    with engine.connect() as conn:
        end = (latest_hour(conn) or 0) + HOUR
    return engine, max(0, end - span), end


def _channels(setup) -> str:
    notifier, parts = setup.notifier, []
    if notifier.email is not None:
        email = notifier.email
        users = (
            "off"
            if not email.users.enabled
            else email.users.template or ("a mapping" if email.users.mapping else "no address")
        )
        parts.append(
            f"email via {email.host}:{email.port} to {len(email.admins)} admin address(es) (subject users: {users})"
        )
    if notifier.webhook is not None:
        parts.append(f"webhook {notifier.webhook.shown}")
    if not parts:
        return "none (alerts are recorded and shown, not sent)"
    digest = setup.pacing.digest
    return "; ".join(parts) + (f"; digest every {digest // 60} min" if digest else "; each alert at once")


def _dry_run(obj, setup, span: int, tz: str, as_json: bool) -> dict:
    from clusterdash.alerts.messages import alert_line
    from clusterdash.alerts.replay import replay
    from clusterdash.alerts.sender import message_alert
    from clusterdash.db.periods import HOUR
    from clusterdash.db.timefmt import iso_utc, local_text

    engine, start, end = _recent(obj, span, "nothing to replay")
    result = replay(engine, setup.rules, start, end)
    fired = [(stored, message_alert(stored, setup.rules)) for stored in result.alerts]
    if not as_json:
        click.echo(
            f"replayed {result.hours:,} stored hour(s) from {local_text(result.first_hour, tz)} to "
            f"{local_text(result.end_hour, tz)} in {result.seconds:.2f} s: {len(fired)} alert(s) would have fired"
        )
        for stored, alert in fired:
            held = (stored.last_hour - stored.first_hour) // HOUR + 1
            text = alert_line(alert) if alert is not None else stored.key
            click.echo(f"  {local_text(stored.first_hour, tz)}  {text}  (held {held} h)")
        if fired:
            click.echo("by rule: " + ", ".join(f"{name} {count}" for name, count in sorted(result.by_rule().items())))
    return {
        "start": iso_utc(result.first_hour),
        "end": iso_utc(result.end_hour),
        "hours": result.hours,
        "seconds": round(result.seconds, 3),
        "alerts": [
            {
                "rule": stored.rule,
                "severity": stored.severity,
                "key": stored.key,
                "fired": iso_utc(stored.first_hour),
                "last_hour": iso_utc(stored.last_hour),
                "value": stored.value,
                "limit": stored.threshold,
                "baseline": stored.baseline,
            }
            for stored, _ in fired
        ],
    }


@alerts.command("list")
@click.option(
    "--state",
    type=click.Choice(["open", "resolved", "all"]),
    default="all",
    show_default=True,
    help="Which alerts.",
)
@click.option(
    "--since", default="7d", show_default=True, help="Alerts holding in this span before the newest stored hour."
)
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="At most this many.")
@setting_option("tz")
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (times as ISO-8601 UTC), with each alert's deliveries."
)
@click.pass_obj
@friendly_errors
def list_alerts(obj, state, since, limit, tz, as_json):
    """The alerts: open ones first, then the latest; what they measured against what limit, and whether their
    message went out (pending, sent, failed; stale: about an hour too old when it opened; off: no channel set up;
    quiet: nothing to send). Only reads.

    \b
    Example:
      clusterdash alerts list --state open --since 30d
    """
    from clusterdash.db.filters import Filters
    from clusterdash.db.query import alert_list
    from clusterdash.db.timefmt import local_text

    engine, start, _ = _recent(obj, _since(since), "no alerts")
    with engine.connect() as conn:
        rows = alert_list(conn, Filters(start=start, tz=tz), state, limit=limit, deliveries=as_json)

    def line(row: dict) -> str:
        subject = " ".join(f"{k} {v}" for k, v in row["subject"].items() if k != "kind") or "the whole server"
        return (
            f"{row['state']:<8} {row['severity']:<8} {row['rule']}: {subject}; fired "
            f"{local_text(row['first_hour_epoch'], tz)}, latest {local_text(row['last_hour_epoch'], tz)}; "
            f"value {row['value']:,.4g} (limit {row['threshold']:,.4g}); message {row['notify']}"
        )

    echo_rows(rows, as_json, f"no {'' if state == 'all' else state + ' '}alerts in the last {since}", line)
