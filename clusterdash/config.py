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
            "Seconds a file must be quiet before its last, unterminated block is taken (follow mode), or counts as "
            "complete for alerts (a one-shot ingest).",
            float,
        ),
        Setting("refresh", 30.0, "Dashboard: seconds between checks for newly ingested data.", float),
        Setting("host", "127.0.0.1", "Address `clusterdash serve` listens on."),
        Setting("port", 8050, "Port `clusterdash serve` listens on.", int),
        # Alerts (clusterdash/alerts/settings.py reads these and names the one it cannot use). Values from the
        # environment stay text here: that module checks them, so a bad one is a one-line error, not a crash.
        Setting("alerts", "", "Alerts: the TOML rule file (docs/alerts.example.toml); empty: no alerts."),
        Setting("alerts_base_url", "", "Alerts: the dashboard's address, for the links in messages."),
        Setting("alerts_smtp_host", "", "Alerts: the SMTP server for alert mail; empty: no mail."),
        Setting("alerts_smtp_port", 25, "Alerts: the SMTP server's port."),
        Setting("alerts_smtp_starttls", False, "Alerts: STARTTLS before logging in and sending (true/false)."),
        Setting("alerts_smtp_user", "", "Alerts: the SMTP login; empty: do not log in."),
        Setting("alerts_smtp_password", "", "Alerts: the SMTP password (or alerts_smtp_password_file)."),
        Setting("alerts_smtp_password_file", "", "Alerts: a file holding the SMTP password (kept out of the repo)."),
        Setting("alerts_from", "", "Alerts: the From address of alert mail (needed with an SMTP host)."),
        Setting("alerts_admins", "", "Alerts: the admins' addresses, separated by commas or spaces."),
        Setting("alerts_user_email", "", "Alerts: the address of a subject user, {user} replaced: {user}@example.edu."),
        Setting("alerts_user_map", "", 'Alerts: a TOML file of user = "address" lines, ahead of the template.'),
        Setting("alerts_user_mail", True, "Alerts: mail the subject user when a rule says so (false: admins only)."),
        Setting("alerts_webhook", "", "Alerts: a URL that gets each message as JSON (Slack, Mattermost: its text)."),
        Setting("alerts_timeout", 10.0, "Alerts: seconds each try to reach the SMTP server or webhook may take."),
        Setting("alerts_digest", 0, "Alerts: minutes to gather alerts into one message per recipient; 0: at once."),
        Setting(
            "alerts_max_age",
            "24h",
            "Alerts: an alert about an hour older than this when it opens (a backlog, old logs) is kept, not sent.",
        ),
    )
}
_YES, _NO = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def flag(value: Any) -> bool:
    """A yes/no setting from text: 1/true/yes/on or 0/false/no/off (any case); a bool as it is."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _YES or text in _NO:
        return text in _YES
    raise ValueError(f"cannot read {str(value)[:40]!r} as yes or no (use true or false)")


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
