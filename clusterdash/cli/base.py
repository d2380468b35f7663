"""The command group and what every command shares: setting options, the database context, one-line errors."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable

import click

from clusterdash import config


def setting_option(name: str, *flags: str, **kwargs):
    """A click option for a declared setting: its env variable, default and help come from config.SETTINGS."""
    setting = config.SETTINGS[name]
    return click.option(
        *(flags or (f"--{name}",)),
        envvar=setting.env,
        default=setting.default,
        show_default=True,
        help=f"{setting.help} [env: {setting.env}]",
        **kwargs,
    )


def echo_rows(rows: list[dict], as_json: bool, empty: str, line: Callable[[dict], str]) -> None:
    """A listing: JSON, or one line per row (`empty` when there is none)."""
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(empty)
    for r in rows:
        click.echo(line(r))


def friendly_errors(command):
    """Turn the failures a user can cause and fix (a bad path, a bad --db, a database that cannot be reached) into
    one-line errors. Anything else is a bug and goes on to `main`, which says so."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except click.ClickException:
            raise
        except Exception as exc:
            message = user_error_message(exc)
            if message is None:
                raise
            raise click.ClickException(message) from exc

    return wrapper


def user_error_message(exc: Exception) -> str | None:
    """The one-line message for an error the user can fix: a UserError (clusterdash.errors), or a database that
    cannot be reached. None for anything else.

    The error classes are imported here, when something has failed, not at the top: importing the ingest and
    database modules up front would make every command, even --help, pay for SQLAlchemy and numpy.
    """
    from clusterdash.errors import UserError, database_unreachable

    if isinstance(exc, UserError):
        return str(exc)
    if database_unreachable(exc):
        first_line = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return f"database {click.get_current_context().obj['db_url']}: {first_line}"
    return None


def echo_rejected(count: int, new: int, shown: list[dict]) -> None:
    """The rejected lines of an ingest on stderr: how many (and how many new), then `shown` as file:line: reason."""
    if not count:
        return
    click.echo(f"rejected {count:,} line(s) (kept in the database, {new:,} new):", err=True)
    for r in shown:
        click.echo(f"  {r['file']}:{r['line']}: {r['reason']}", err=True)
    if count > len(shown):
        click.echo(f"  ... and {count - len(shown):,} more", err=True)


class Context(dict):
    """Lazily opened engine, shared by the group and its commands."""

    def engine(self):
        if "engine" not in self:
            from clusterdash.db.engine import make_engine

            self["engine"] = make_engine(self["db_url"])
        return self["engine"]

    def require_database(self) -> None:
        """For the commands that only read: a SQLite file that does not exist is a mistyped path, not a database to
        create (opening it would create it, empty)."""
        from clusterdash.db.engine import sqlite_file

        path = sqlite_file(self["db_url"])
        if path is not None and not path.exists():
            raise click.ClickException(
                f"no such database: {path} (run `clusterdash init` or `clusterdash ingest PATH` to create it, "
                "or `clusterdash serve --demo` for synthetic data)"
            )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@setting_option("db")
@click.version_option(package_name="clusterdash")
@click.pass_context
def cli(ctx, db):
    """clusterdash: who is doing what to the cluster's NFS file server.

    Reads the io_usage.log that the file server's tracer appends every hour,
    keeps it in a database (SQLite by default) and shows it in a dashboard
    and a JSON API.

    \b
    Example:
      clusterdash demo                       # a month of synthetic data
      clusterdash ingest /var/log/io_usage.log*
      clusterdash stats
    """
    ctx.obj = Context(db_url=config.normalize_db_url(db))


def main() -> None:
    """Entry point: a bug shows as one, in one line (set CLUSTERDASH_DEBUG=1 for its traceback); no traceback
    reaches a user otherwise."""
    import os

    try:
        cli(prog_name="clusterdash")
    except Exception as exc:
        if os.environ.get("CLUSTERDASH_DEBUG"):
            raise
        what = (str(exc).strip().splitlines() or [""])[0][:300]
        click.echo(f"Error: unexpected {type(exc).__name__}: {what} (set CLUSTERDASH_DEBUG=1 for details)", err=True)
        sys.exit(1)
