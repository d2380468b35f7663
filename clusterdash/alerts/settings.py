"""The alert settings read into a Notifier, checked once at start: a value that cannot be used is a BadParameter
naming the setting. Credentials come from settings or a file, never from the repository.

The settings are declared in config.SETTINGS (names below; `flag` converts the yes/no ones from text). This module
reads a mapping holding every one of them, as config.from_environment returns it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from clusterdash.alerts.notify import ADDRESS, EmailChannel, Notifier, UserAddresses, WebhookChannel
from clusterdash.alerts.rulefile import tomllib  # tomllib, or tomli on Python 3.10: chosen in one place
from clusterdash.alerts.rules import parse_duration
from clusterdash.config import flag
from clusterdash.db.periods import DAY, zone
from clusterdash.errors import BadParameter, InputError, UserError

NAMES = (
    "alerts_base_url",
    "alerts_smtp_host",
    "alerts_smtp_port",
    "alerts_smtp_starttls",
    "alerts_smtp_user",
    "alerts_smtp_password",
    "alerts_smtp_password_file",
    "alerts_from",
    "alerts_admins",
    "alerts_user_email",
    "alerts_user_map",
    "alerts_user_mail",
    "alerts_webhook",
    "alerts_timeout",
    "tz",
)
MAX_TIMEOUT = 120.0
MAX_DIGEST_MINUTES = 24 * 60


def _text(values: Mapping[str, Any], name: str) -> str:
    value = values[name]
    return "" if value is None else str(value).strip()


def _number(values: Mapping[str, Any], name: str, kind: type, low: float, high: float) -> Any:
    try:
        number = kind(values[name])
    except (TypeError, ValueError):
        number = None
    if number is None or not low <= number <= high:
        raise BadParameter(name, f"must be a number from {low:g} to {high:g} (got {str(values[name])[:40]!r})")
    return number


def _flag(values: Mapping[str, Any], name: str) -> bool:
    try:
        return flag(values[name])
    except ValueError as exc:
        raise BadParameter(name, str(exc)) from None


def _url(values: Mapping[str, Any], name: str) -> str:
    url = _text(values, name)
    parts = urlsplit(url)
    if url and (parts.scheme not in ("http", "https") or not parts.hostname):
        raise BadParameter(name, "must be an http:// or https:// URL with a host")
    return url


def _address(name: str, address: str) -> str:
    if not ADDRESS.match(address):
        raise BadParameter(name, f"{address[:80]!r} is not an email address (name@domain, nothing else)")
    return address


def _password(values: Mapping[str, Any]) -> str:
    inline, path = _text(values, "alerts_smtp_password"), _text(values, "alerts_smtp_password_file")
    if inline and path:
        raise BadParameter("alerts_smtp_password_file", "set the password or its file, not both")
    if not path:
        return inline
    try:
        secret = Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or exc
        raise InputError(f"alerts_smtp_password_file: cannot read {path}: {why}") from None
    secret = secret.removesuffix("\n").removesuffix("\r")
    if not secret:
        raise BadParameter("alerts_smtp_password_file", f"{path} is empty")
    return secret


def load_user_map(path: str | Path) -> dict[str, str]:
    """User -> address from a TOML file of `user = "address"` lines; UserError listing every bad entry."""
    try:
        data = tomllib.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"alerts_user_map: cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML: {exc}") from None
    bad = [user for user, address in data.items() if not isinstance(address, str) or not ADDRESS.match(address)]
    if bad:
        lines = [f"{path}: {user!r}: {data[user]!r} is not an email address" for user in bad[:20]]
        raise UserError("\n".join(lines))
    return dict(data)


def _users(values: Mapping[str, Any]) -> UserAddresses:
    template = _text(values, "alerts_user_email")
    if template and (template.count("{user}") != 1 or not ADDRESS.match(template.replace("{user}", "user"))):
        raise BadParameter("alerts_user_email", "must be an address with {user} once in it, e.g. {user}@example.edu")
    path = _text(values, "alerts_user_map")
    mapping = load_user_map(path) if path else {}
    return UserAddresses(template=template, mapping=mapping, enabled=_flag(values, "alerts_user_mail"))


def _email(values: Mapping[str, Any], timeout: float) -> EmailChannel | None:
    host = _text(values, "alerts_smtp_host")
    if not host:
        return None
    sender = _text(values, "alerts_from")
    if not sender:
        raise BadParameter("alerts_from", "needed when alerts_smtp_host is set: the From address of alert mail")
    admins = tuple(_address("alerts_admins", a) for a in _text(values, "alerts_admins").replace(",", " ").split())
    return EmailChannel(
        host=host,
        sender=_address("alerts_from", sender),
        port=_number(values, "alerts_smtp_port", int, 1, 65535),
        starttls=_flag(values, "alerts_smtp_starttls"),
        username=_text(values, "alerts_smtp_user"),
        password=_password(values),
        admins=admins,
        users=_users(values),
        timeout=timeout,
    )


def notifier_from_settings(values: Mapping[str, Any]) -> Notifier:
    """A Notifier from the settings (every name in NAMES): email when alerts_smtp_host is set, the webhook when
    alerts_webhook is. Raises BadParameter naming a setting that cannot be used, InputError for an unreadable file."""
    missing = [name for name in NAMES if name not in values]
    if missing:
        raise KeyError(f"alert settings missing: {', '.join(missing)}")
    timeout = _number(values, "alerts_timeout", float, 0.1, MAX_TIMEOUT)
    webhook = _url(values, "alerts_webhook")
    tz = _text(values, "tz") or "UTC"
    zone(tz)
    return Notifier(
        email=_email(values, timeout),
        webhook=WebhookChannel(webhook, timeout) if webhook else None,
        base_url=_url(values, "alerts_base_url"),
        tz=tz,
    )


@dataclass(frozen=True)
class Pacing:
    """When messages go out: digest (seconds to gather alerts into one message per recipient; 0: each at once) and
    max_age (an alert about an hour older than this, by the wall clock, when it opens is kept, not sent)."""

    digest: int = 0
    max_age: int = DAY


def pacing_from_settings(values: Mapping[str, Any]) -> Pacing:
    """alerts_digest (minutes) and alerts_max_age (a duration such as 24h) as a Pacing; BadParameter naming the
    setting otherwise."""
    minutes = _number(values, "alerts_digest", float, 0, MAX_DIGEST_MINUTES)
    try:
        max_age = parse_duration(str(values["alerts_max_age"]))
    except ValueError as exc:
        raise BadParameter("alerts_max_age", str(exc)) from None
    return Pacing(digest=int(round(minutes * 60)), max_age=max_age)
