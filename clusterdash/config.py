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

from clusterdash.errors import BadParameter


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    convert: Callable[[str], Any] = str

    @property
    def env(self) -> str:
        return "CLUSTERDASH_" + self.name.upper()


_YES, _NO = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def flag(value: Any) -> bool:
    """A yes/no setting from text: 1/true/yes/on or 0/false/no/off (any case); a bool as it is."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _YES or text in _NO:
        return text in _YES
    raise ValueError(f"cannot read {str(value)[:40]!r} as yes or no (a yes/no value: true or false)")


DEFAULT_DB_URL = "sqlite:///data/clusterdash.db"
AUTH_MODES = ("none", "proxy", "ldap", "local")
DEFAULT_USER_HEADER = "X-Forwarded-User"

# Access control (clusterdash/auth/settings.py turns their values into one checked AuthConfig at start-up).
ACCESS_SETTINGS = (
    Setting(
        "auth",
        "none",
        "How people sign in: none (nobody; loopback only), proxy (a reverse proxy's login header), "
        "ldap (a sign-in page checked against the directory), local (accounts kept in the database).",
    ),
    Setting(
        "public_without_auth",
        False,
        "Serve with --auth none on a non-loopback address anyway: everyone who reaches the port sees every user's IO.",
        flag,
    ),
    Setting("auth_header", DEFAULT_USER_HEADER, "proxy: the header that carries the signed-in login."),
    Setting(
        "auth_groups_header",
        "",
        "proxy: a header with the login's groups, separated by commas or semicolons (empty: none; the "
        "roles come from the accounts table).",
    ),
    Setting("auth_admin_groups", "", "proxy: groups (comma-separated) whose members are admins."),
    Setting("auth_staff_groups", "", "proxy: groups (comma-separated) whose members are staff."),
    Setting(
        "trusted_proxies",
        "",
        "Addresses (CIDRs, comma-separated; `unix` for a Unix socket) of the reverse proxies whose login "
        "and X-Real-IP headers are believed. Required with --auth proxy.",
    ),
    Setting("ldap_url", "", "ldap: the directory, ldap://host[:port] or ldaps://host[:port]."),
    Setting("ldap_starttls", False, "ldap: upgrade an ldap:// connection with STARTTLS.", flag),
    Setting("ldap_ca_file", "", "ldap: CA certificates (PEM) to verify the directory with (empty: the system's)."),
    Setting(
        "ldap_user_dn",
        "",
        "ldap: a person's DN with {login} in it, e.g. uid={login},ou=people,dc=example,dc=edu "
        "(or use CLUSTERDASH_LDAP_SEARCH_BASE).",
    ),
    Setting("ldap_search_base", "", "ldap: where to search for a person's entry (instead of a DN template)."),
    Setting("ldap_search_filter", "(uid={login})", "ldap: the search filter; {login} is escaped."),
    Setting("ldap_bind_dn", "", "ldap: a service account for the search and group lookups (empty: anonymous)."),
    Setting("ldap_bind_password", "", "ldap: the service account's password."),
    Setting("ldap_bind_password_file", "", "ldap: a file holding the service account's password."),
    Setting("ldap_admin_group", "", "ldap: the DN of the group whose members are admins."),
    Setting("ldap_staff_group", "", "ldap: the DN of the group whose members are staff."),
    Setting("ldap_login_attribute", "uid", "ldap: the attribute that holds the login."),
    Setting("ldap_timeout", 5.0, "ldap: seconds to wait for the directory, per step.", float),
    Setting(
        "secret_key",
        "",
        "The key that signs session cookies (at least 32 characters; empty: one is generated and kept in the "
        "database).",
    ),
    Setting("secret_key_file", "", "A file holding the session key."),
    Setting("session_lifetime", "12h", "How long a sign-in lasts (12h, 7d, ...)."),
    Setting(
        "show_everyone_else",
        True,
        "A signed-in user also sees the rest of the cluster as one anonymous figure (0 hides it).",
        flag,
    ),
)

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
        *ACCESS_SETTINGS,
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
            try:
                values[name] = setting.convert(environ[setting.env])
            except ValueError as exc:
                raise BadParameter(setting.env, f"cannot read {environ[setting.env][:40]!r}: {exc}") from None
        else:
            values[name] = setting.default
    return values


def normalize_db_url(value: str) -> str:
    """Accept a SQLAlchemy URL or a bare file path (taken as a SQLite file)."""
    value = value.strip()
    if "://" in value:
        return value
    return "sqlite:///" + str(Path(value).expanduser())
