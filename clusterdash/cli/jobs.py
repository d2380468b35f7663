"""`clusterdash jobs ...`: Slurm jobs from sacct, and the IO attributed to them."""

from __future__ import annotations

import json
import sys

import click

from clusterdash.cli.base import cli, echo_rejected, friendly_errors, setting_option

SHOW_REJECTED = 5


@cli.group()
def jobs():
    """Slurm jobs: read what sacct prints, and share each hour's IO among the jobs that did it.

    A user's IO on a machine in an hour is shared among that user's jobs running there then, in proportion to their
    seconds x CPUs; what no job covers is counted as "outside jobs". Either may arrive first: IO ingested later is
    shared among the jobs stored, and jobs stored later take their part of the IO stored.

    \b
    Example:
      clusterdash jobs ingest sacct-2025-03.txt
      clusterdash jobs pull                  # from cron or a systemd timer, every hour
    """


@jobs.command("ingest")
@click.argument("paths", nargs=-1, required=True)
@setting_option("sacct_tz", "--sacct-tz")
@setting_option("tz")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--strict", is_flag=True, help="Exit with status 1 when any line was rejected.")
@click.pass_obj
@friendly_errors
def jobs_ingest(obj, paths, sacct_tz, tz, as_json, strict):
    """Read saved sacct output into the database (files, plain or .gz, or glob patterns).

    The output of exactly this command, with or without --noheader (a header line naming other fields is
    reported, and the lines under it rejected):

    \b
    sacct --allusers --parsable2 --noheader -X \\
    --format=JobID,JobIDRaw,User,Account,Partition,State,Submit,Start,End,Elapsed,NNodes,NodeList,AllocTRES,JobName \\
    --starttime 2025-03-01T00:00:00 --endtime 2025-04-01T00:00:00

    run with SLURM_TIME_FORMAT=standard; its times are read in --sacct-tz. A job read again (RUNNING, then
    COMPLETED) is updated, a file read again changes nothing. Bad lines are reported as file:line: reason and
    kept in the database.

    \b
    Example:
      clusterdash jobs ingest --sacct-tz Europe/Zurich sacct-2025-03.txt sacct-2025-04.txt.gz
    """
    from clusterdash.db.periods import zone
    from clusterdash.db.setup import prepare_database
    from clusterdash.ingest.jobs import ingest_sacct_files

    zone(sacct_tz)
    engine = obj.engine()
    prepare_database(engine, tz, keep_zone=True)
    report = ingest_sacct_files(engine, paths, sacct_tz)
    summary = report.summary(SHOW_REJECTED)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        echo_jobs_summary(summary)
    if strict and report.rejected:
        sys.exit(1)


@jobs.command("pull")
@click.option(
    "--since",
    help="Start of the window (ISO-8601 in --sacct-tz, or epoch seconds). Default: an hour before the last pull's "
    "end; the first pull covers the stored IO log.",
)
@setting_option("sacct")
@setting_option("sacct_tz", "--sacct-tz")
@setting_option("tz")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
@friendly_errors
def jobs_pull(obj, since, sacct, sacct_tz, tz, as_json):
    """Run sacct for the window since the last pull (with an hour's overlap) and store the jobs it lists; for cron or
    a systemd timer. --sacct is the command that runs it: sacct on PATH, or e.g. `ssh login1 sacct` (its last word
    is sacct itself); the time zone and format are set on its command line, so they hold over ssh too:

    \b
      [ssh login1] env TZ=<--sacct-tz> SLURM_TIME_FORMAT=standard sacct --allusers --parsable2 --noheader -X \\
        --format=JobID,...,JobName --starttime <since> --endtime <now>

    \b
    Example:
      clusterdash jobs pull --sacct 'ssh login1 sacct' --sacct-tz Europe/Zurich
    """
    import shlex

    from clusterdash.db.filters import parse_time
    from clusterdash.db.periods import zone
    from clusterdash.db.setup import prepare_database
    from clusterdash.db.timefmt import iso_utc
    from clusterdash.ingest.pull import pull_jobs

    zone(sacct_tz)
    engine = obj.engine()
    prepare_database(engine, tz, keep_zone=True)
    start = None if since is None else parse_time(since, sacct_tz, "since")
    pulled = pull_jobs(engine, sacct, sacct_tz, since=start)
    summary = pulled.report.summary(SHOW_REJECTED)
    summary.update(
        window={"since": iso_utc(pulled.since), "until": iso_utc(pulled.until)},
        command=shlex.join(pulled.argv),
        sacct_seconds=round(pulled.sacct_seconds, 3),
    )
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"sacct {summary['window']['since']} .. {summary['window']['until']} ({pulled.sacct_seconds:.2f} s)")
    echo_jobs_summary(summary)


def echo_jobs_summary(summary: dict) -> None:
    stored, shared = summary["jobs"], summary["attribution"]
    click.echo(
        f"read {len(summary['sources'])} source(s): {summary['lines']:,} lines, {summary['jobs_read']:,} jobs; "
        f"stored {stored['new']:,} new, {stored['updated']:,} updated, {stored['unchanged']:,} unchanged"
    )
    click.echo(
        f"attribution: {shared['sessions']:,} sessions shared again, {shared['operations_attributed']:,} operations "
        f"attributed to jobs ({summary['seconds']:.2f} s in all)"
    )
    echo_rejected(summary["rejected_lines"], summary["rejected_new"], summary["rejected"])
