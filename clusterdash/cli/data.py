"""Commands that fill the database and say what it holds: init, ingest, stats, demo."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from clusterdash.cli.base import cli, echo_rejected, friendly_errors, setting_option

SHOW_REJECTED = 5


@cli.command()
@setting_option("tz")
@click.pass_obj
@friendly_errors
def init(obj, tz):
    """Create the database tables (safe to run again: creates only what is missing).

    The day, week, month and year totals kept for the dashboard are cut in --tz when the database has none yet;
    `serve` moves them to its own --tz. Every command prepares the database this way, so `init` is optional.

    \b
    Example:
      clusterdash --db postgresql+psycopg://clusterdash@dbhost/clusterdash init --tz Europe/Zurich
    """
    from clusterdash.db.setup import prepare_database

    created = prepare_database(obj.engine(), tz, keep_zone=True).created
    click.echo(f"created {len(created)} tables: {', '.join(created)}" if created else "schema already up to date")


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--strict", is_flag=True, help="Exit with status 1 when any line was rejected.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--progress/--no-progress", default=None, help="Show a progress bar (default: when stderr is a terminal)."
)
@click.option(
    "--follow",
    is_flag=True,
    help="Keep reading PATH (one file) as it grows, rotates or is replaced, until SIGINT/SIGTERM.",
)
@setting_option("poll", type=float)
@setting_option("settle", type=float)
@setting_option("tz")
@setting_option("alerts", "--alerts", metavar="PATH")
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Log each transaction on stderr; with --follow also each look at the file (debug level).",
)
@click.pass_obj
@friendly_errors
def ingest(obj, paths, strict, as_json, progress, follow, poll, settle, tz, alerts, verbose):
    """Read io_usage.log files into the database; blocks already stored count once.

    PATHS are files (plain or .gz), directories (their *.log* files) or glob
    patterns. Malformed lines are reported as file:line: reason and kept in
    the database for inspection; the ingest goes on. A file read before is
    read on from where the last read stopped, if it still holds those bytes.

    With --follow, PATH is the live log: each block is stored once complete
    (the next hour has begun, or the file has been quiet for --settle
    seconds), through logrotate (create, copytruncate, compression), rsync
    replacement and restarts. Events are logged on stderr; SIGINT or SIGTERM
    stops it after the transaction in hand.

    --tz matters only for a database without day, week and month totals yet
    (see `init`); totals kept in another zone stay in it.

    With --alerts (or CLUSTERDASH_ALERTS) the rules are checked first, then
    judged after each commit for the hours it completed (a file's last block
    counts once the file has been unchanged for --settle seconds), and what
    fires is sent (CLUSTERDASH_ALERTS_* settings) off the ingest's thread.

    \b
    Examples:
      clusterdash ingest /var/log/nfsio/io_usage.log /var/log/nfsio/io_usage.log.*.gz
      clusterdash ingest --follow --alerts /etc/clusterdash/rules.toml /var/log/nfsio/io_usage.log
    """
    from clusterdash.cli.alerts import alert_setup, alerts_summary, echo_alerts_summary, start_alerting
    from clusterdash.db.setup import prepare_database
    from clusterdash.ingest.pipeline import ingest_paths

    if follow and (len(paths) != 1 or paths[0].endswith(".gz")):
        raise click.UsageError("--follow takes one plain log file (ingest rotated .gz files without --follow)")
    setup = alert_setup(alerts, tz)  # a bad rule file or setting stops here, before anything is read
    engine = obj.engine()
    prepare_database(engine, tz, keep_zone=True)
    if follow or verbose:
        import logging

        logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
        logging.getLogger("clusterdash").setLevel(logging.DEBUG if verbose else logging.INFO)
    alerting = start_alerting(engine, setup, tz) if setup is not None else None
    hook = alerting.after_commit if alerting is not None else None
    try:
        if follow:
            from clusterdash.ingest.follow import follow_until_signalled

            follow_until_signalled(engine, paths[0], poll=poll, settle=settle, after_commit=hook)
            return
        report = ingest_paths(engine, paths, progress=progress, after_commit=hook, settle=settle)
    finally:
        if alerting is not None:
            alerting.close()
    summary = ingest_summary(report)
    if alerting is not None:
        summary["alerts"] = alerts_summary(alerting)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        echo_ingest_summary(summary)
        if alerting is not None:
            echo_alerts_summary(summary["alerts"])
    if strict and report.rejected:
        sys.exit(1)


def ingest_summary(report) -> dict:
    added = report.added
    return {
        "files": [f.path for f in report.files],
        "read": {
            "blocks": report.total("blocks"),
            "entries": report.total("entries"),
            "rows": report.total("rows"),
            "operations": {"rd": report.operations("rd"), "wr": report.operations("wr")},
            "rejected_lines": len(report.rejected),
        },
        "added": {
            "blocks": added.blocks_new,
            "blocks_merged": added.blocks_merged,
            "blocks_unchanged": added.blocks_unchanged,
            "blocks_refused": added.blocks_refused,
            "entries": added.sessions,
            "rows": added.rows,
            "operations": dict(added.operations),
            "rejected_lines": added.rejected_lines,
        },
        "rejected": [
            {"file": path, "line": line, "reason": reason, "text": text}
            for path, line, text, reason in report.rejected[:SHOW_REJECTED]
        ],
    }


def echo_ingest_summary(summary: dict) -> None:
    read, added = summary["read"], summary["added"]
    click.echo(
        f"read {len(summary['files'])} file(s): {read['blocks']:,} blocks, {read['entries']:,} entries, "
        f"{read['rows']:,} rows; operations {read['operations']['rd']:,} read, "
        f"{read['operations']['wr']:,} written"
    )
    click.echo(
        f"added: {added['blocks']:,} new blocks ({added['blocks_merged']:,} completed, "
        f"{added['blocks_unchanged']:,} already stored), {added['entries']:,} entries, {added['rows']:,} rows"
    )
    if added["blocks_refused"]:
        click.echo(
            f"refused {added['blocks_refused']:,} block(s): storing them failed; nothing of their hours is stored, "
            "their lines are kept as rejected lines (below)",
            err=True,
        )
    echo_rejected(read["rejected_lines"], added["rejected_lines"], summary["rejected"])


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON (times as ISO-8601 UTC).")
@click.pass_obj
@friendly_errors
def stats(obj, as_json):
    """What the database holds: hours, entries, users, machines, operations, rejected lines, the gaps (hours
    without a block: how many, the largest and the latest) and the data's age (since the newest block).
    Only reads: a SQLite file that does not exist is an error, not created.

    \b
    Example:
      clusterdash stats --json
    """
    from clusterdash.db.query import database_stats, gap_summary
    from clusterdash.db.setup import schema_is_initialised

    obj.require_database()
    engine = obj.engine()
    if not schema_is_initialised(engine):
        raise click.ClickException(
            f"{obj['db_url']} holds no clusterdash data yet: run `clusterdash demo` or `clusterdash ingest PATH`"
        )
    with engine.connect() as conn:
        figures = database_stats(conn)
    figures["gap_summary"] = gap_summary(figures["gaps"])
    if as_json:
        click.echo(json.dumps(figures, indent=2))
        return
    ops = figures["operations"]
    click.echo(f"hours (blocks):    {figures['blocks']:,}  ({figures['first'] or '-'} .. {figures['last'] or '-'})")
    click.echo(f"entries:           {figures['entries']:,}")
    click.echo(f"users / machines:  {figures['users']:,} / {figures['machines']:,}")
    click.echo(f"operations:        {ops['total']:,}  ({ops['rd']:,} read, {ops['wr']:,} written)")
    click.echo(f"rejected lines:    {figures['rejected_lines']:,}")
    click.echo(f"hours with lost events: {figures['hours_with_lost_events']:,}")
    gaps, fresh = figures["gap_summary"], figures["freshness"]
    click.echo(f"gaps:              {gaps['count']:,} ({gaps['hours']:,} hours without a block)")
    for title in ("largest", "latest"):
        if gaps[title]:
            shown = ", ".join(f"{g['start']} .. {g['end']} ({g['hours']:,} h)" for g in gaps[title])
            click.echo(f"  {title + ':':<8} {shown}")
    if fresh["last_block"] is not None:
        click.echo(f"data age:          {_duration(fresh['age_seconds'])} (newest block {fresh['last_block']})")


def _duration(seconds: int) -> str:
    """'3 d 4 h', '2 h 5 min', '42 s': the two largest units."""
    parts = [(seconds // 86400, "d"), (seconds // 3600 % 24, "h"), (seconds // 60 % 60, "min"), (seconds % 60, "s")]
    first = next((i for i, (value, _) in enumerate(parts) if value), len(parts) - 1)
    return " ".join(f"{value} {unit}" for value, unit in parts[first : first + 2] if value or unit == "s")


@cli.command()
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 3660), help="Days of data to generate.")
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed: the same seed writes the same file.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("data/demo/io_usage.log"),
    show_default=True,
    help="Where to write the synthetic log (.gz to compress).",
)
@setting_option("tz")
@click.pass_obj
@friendly_errors
def demo(obj, days, seed, out, tz):
    """Write a synthetic io_usage.log shaped like a real month (users, machines, heavy users, gaps, a DST jump)
    and the sacct output of its batch jobs beside it (sacct.txt), and ingest both.

    \b
    Example:
      clusterdash demo --days 90 --seed 7
    """
    from clusterdash.db.setup import prepare_database
    from clusterdash.ingest.demo import ingest_demo

    prepare_database(obj.engine(), tz, keep_zone=True)
    report = ingest_demo(
        obj.engine(),
        out,
        days=days,
        seed=seed,
        on_written=lambda written: click.echo(
            f"wrote {out}: {written.blocks:,} hours, {written.entries:,} entries, {written.rows:,} rows; "
            f"and the sacct output of its {written.jobs:,} batch jobs beside it"
        ),
        on_jobs=lambda jobs: click.echo(
            f"jobs: {jobs.stored.new:,} stored, {jobs.shared.operations:,} operations attributed to them"
        ),
    )
    echo_ingest_summary(ingest_summary(report))
