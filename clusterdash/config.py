"""Settings, each declared once: a command-line option wins over its CLUSTERDASH_* variable, which wins over
the default.

The CLI builds its options from SETTINGS (so `--help` and the README table come
from the same text), and the web app factory reads the same declarations from
the environment when it is started by gunicorn, where there is no command line.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    convert: Callable[[str], Any] = str

    @property
    def env(self) -> str:
        return "CLUSTERDASH_" + self.name.upper()


DEFAULT_DB_URL = "sqlite:///data/clusterdash.db"

SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting(
            "db",
            DEFAULT_DB_URL,
            "Database URL (sqlite:///path.db or postgresql+psycopg://user@host/db) or a bare SQLite file path.",
        ),
        Setting(
            "tz",
            "UTC",
            "Display time zone (IANA name, e.g. Europe/Zurich): day, week and month boundaries and shown times.",
        ),
        Setting(
            "poll",
            1.0,
            "Follow mode: seconds between polls of the followed file (inotify does not see writes made over NFS).",
            float,
        ),
        # bpftrace prints an hour's block at once, so a second of quiet means it is complete; a block that does
        # grow later is read again from its start and merged (the stored offset points at it).
        Setting(
            "settle",
            1.0,
            "Follow mode: seconds a file must be quiet before its last, unterminated block is taken.",
            float,
        ),
        Setting("refresh", 30.0, "Dashboard: seconds between checks for newly ingested data.", float),
        Setting("host", "127.0.0.1", "Address `clusterdash serve` listens on."),
        Setting("port", 8050, "Port `clusterdash serve` listens on.", int),
        # sacct prints the cluster's local time, whatever zone the dashboard shows.
        Setting(
            "sacct_tz",
            "UTC",
            "Jobs: the time zone sacct prints its times in, the cluster's (IANA name, e.g. Europe/Zurich).",
        ),
        Setting(
            "sacct",
            "sacct",
            "Jobs: the command `jobs pull` runs sacct with; its last word is sacct itself (e.g. `ssh login1 sacct`).",
        ),
    )
}


def from_environment(environ: Mapping[str, str] | None = None, **overrides: Any) -> dict[str, Any]:
    """Every setting's value: an override that is not None, else its environment variable, else its default."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for name, setting in SETTINGS.items():
        if overrides.get(name) is not None:
            values[name] = overrides[name]
        elif setting.env in environ and environ[setting.env] != "":
            values[name] = setting.convert(environ[setting.env])
        else:
            values[name] = setting.default
    return values


def normalize_db_url(value: str) -> str:
    """Accept a SQLAlchemy URL or a bare file path (taken as a SQLite file)."""
    value = value.strip()
    if "://" in value:
        return value
    return "sqlite:///" + str(Path(value).expanduser())
