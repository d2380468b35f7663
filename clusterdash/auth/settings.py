"""The access-control settings: their declarations, and their conversion into the values the blocks take.

`AUTH_SETTINGS` are the access-control `config.Setting`s (declared in config.py with the others).
`auth_config(values)` turns the values of those settings (as `config.from_environment()` returns them) into
one checked `AuthConfig`: a wrong or missing value is a `BadParameter` naming the variable, at startup rather
than at the first sign-in. `check_exposure` is the rule that `--auth none` serves only on loopback.

Secrets (the LDAP service password, the session key) can come from a file instead (`..._FILE`), so they
need not sit in the environment of every process.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from clusterdash.auth.ldap import LOGIN_PLACEHOLDER, LdapSettings
from clusterdash.auth.proxy import ProxySettings, TrustedProxies, parse_trusted_proxies
from clusterdash.auth.tokens import parse_lifetime
from clusterdash.config import ACCESS_SETTINGS, AUTH_MODES, Setting, flag
from clusterdash.errors import BadParameter, UserError

Mode = Literal["none", "proxy", "ldap", "local"]
MODES = cast(tuple[Mode, ...], AUTH_MODES)
HEADER_NAME = re.compile(r"[A-Za-z0-9-]{1,64}")  # no "_": WSGI servers drop such headers (they mimic "-")
MIN_SECRET_KEY = 32
MAX_LDAP_TIMEOUT = 60.0


# The declarations live in config.SETTINGS with the others (each setting is declared once); these are theirs.
AUTH_SETTINGS: dict[str, Setting] = {s.name: s for s in ACCESS_SETTINGS}


@dataclass(frozen=True)
class AuthConfig:
    mode: Mode
    trusted: TrustedProxies  # also for ldap and local: whose X-Real-IP names the client
    proxy: ProxySettings | None = None
    ldap: LdapSettings | None = None
    secret_key: str | None = field(default=None, repr=False)  # None: generate one and keep it
    session_lifetime: int = 12 * 3600
    show_everyone_else: bool = True


def _env(name: str) -> str:
    return AUTH_SETTINGS[name].env


def _text(values: Mapping[str, Any], name: str) -> str:
    value = values.get(name, AUTH_SETTINGS[name].default)
    return "" if value is None else str(value).strip()


def _flag(values: Mapping[str, Any], name: str) -> bool:
    value = values.get(name, AUTH_SETTINGS[name].default)
    try:
        return value if isinstance(value, bool) else flag(str(value))
    except ValueError as exc:
        raise BadParameter(_env(name), str(exc)) from None


def _names(values: Mapping[str, Any], name: str) -> frozenset[str]:
    return frozenset(n.strip() for n in _text(values, name).split(",") if n.strip())


def _secret(values: Mapping[str, Any], name: str) -> str | None:
    """A secret from its setting or from the file its `_file` setting names (not both)."""
    value, path = _text(values, name), _text(values, name + "_file")
    if value and path:
        raise BadParameter(_env(name), f"set either it or {_env(name + '_file')}, not both")
    if not path:
        return value or None
    try:
        secret = Path(path).read_text().strip()
    except OSError as exc:
        raise BadParameter(_env(name + "_file"), f"cannot read {path}: {exc.strerror}") from None
    if not secret:
        raise BadParameter(_env(name + "_file"), f"{path} is empty")
    return secret


def _header(values: Mapping[str, Any], name: str) -> str:
    header = _text(values, name)
    if not HEADER_NAME.fullmatch(header):
        raise BadParameter(_env(name), f"{header!r} is not a header name (letters, digits and '-' only)")
    return header


def _proxy(values: Mapping[str, Any], trusted: TrustedProxies) -> ProxySettings:
    if not trusted.networks and not trusted.unix_socket:
        raise BadParameter(
            _env("trusted_proxies"), "empty: with --auth proxy the login header is believed only from these addresses"
        )
    groups_header = _header(values, "auth_groups_header") if _text(values, "auth_groups_header") else None
    return ProxySettings(
        trusted=trusted,
        user_header=_header(values, "auth_header"),
        groups_header=groups_header,
        admin_groups=_names(values, "auth_admin_groups"),
        staff_groups=_names(values, "auth_staff_groups"),
    )


def _ldap(values: Mapping[str, Any]) -> LdapSettings:
    url = _text(values, "ldap_url")
    parts = urlsplit(url)
    if parts.scheme not in ("ldap", "ldaps") or not parts.hostname or parts.path not in ("", "/"):
        raise BadParameter(_env("ldap_url"), f"{url!r} is not ldap://host[:port] or ldaps://host[:port]")
    starttls = _flag(values, "ldap_starttls")
    if starttls and parts.scheme == "ldaps":
        raise BadParameter(_env("ldap_starttls"), "ldaps:// is encrypted from the start; STARTTLS is for ldap://")
    template, base = _text(values, "ldap_user_dn"), _text(values, "ldap_search_base")
    if bool(template) == bool(base):
        raise BadParameter(_env("ldap_user_dn"), f"set exactly one of it and {_env('ldap_search_base')}")
    if template and template.count(LOGIN_PLACEHOLDER) != 1:
        raise BadParameter(_env("ldap_user_dn"), f"must contain {LOGIN_PLACEHOLDER} once")
    search_filter = _text(values, "ldap_search_filter")
    if base and not (
        search_filter.startswith("(") and search_filter.endswith(")") and LOGIN_PLACEHOLDER in search_filter
    ):
        raise BadParameter(_env("ldap_search_filter"), f"must be a parenthesised filter containing {LOGIN_PLACEHOLDER}")
    bind_dn, bind_password = _text(values, "ldap_bind_dn"), _secret(values, "ldap_bind_password")
    if bind_dn and not bind_password:
        raise BadParameter(_env("ldap_bind_password"), f"{_env('ldap_bind_dn')} is set but has no password")
    ca_file = _text(values, "ldap_ca_file")
    if ca_file and not Path(ca_file).is_file():
        raise BadParameter(_env("ldap_ca_file"), f"{ca_file} is not a file")
    try:
        timeout = float(values.get("ldap_timeout", AUTH_SETTINGS["ldap_timeout"].default))
    except (TypeError, ValueError):
        timeout = -1.0
    if not 0 < timeout <= MAX_LDAP_TIMEOUT:
        raise BadParameter(
            _env("ldap_timeout"), f"must be a number of seconds, more than 0 and at most {MAX_LDAP_TIMEOUT:g}"
        )
    return LdapSettings(
        url=url,
        user_dn_template=template or None,
        search_base=base or None,
        search_filter=search_filter,
        bind_dn=bind_dn or None,
        bind_password=bind_password,
        starttls=starttls,
        ca_file=ca_file or None,
        admin_group=_text(values, "ldap_admin_group") or None,
        staff_group=_text(values, "ldap_staff_group") or None,
        login_attribute=_text(values, "ldap_login_attribute") or "uid",
        timeout=timeout,
    )


def auth_config(values: Mapping[str, Any]) -> AuthConfig:
    """The checked access-control configuration from the settings' values (keys are setting names)."""
    mode = _text(values, "auth").lower()
    if mode not in MODES:
        raise BadParameter(_env("auth"), f"{mode!r} is not one of {', '.join(MODES)}")
    trusted = parse_trusted_proxies(_text(values, "trusted_proxies"), _env("trusted_proxies"))
    secret_key = _secret(values, "secret_key")
    if secret_key is not None and len(secret_key) < MIN_SECRET_KEY:
        raise BadParameter(_env("secret_key"), f"too short: at least {MIN_SECRET_KEY} characters")
    return AuthConfig(
        mode=cast(Mode, mode),
        trusted=trusted,
        proxy=_proxy(values, trusted) if mode == "proxy" else None,
        ldap=_ldap(values) if mode == "ldap" else None,
        secret_key=secret_key,
        session_lifetime=cast(int, parse_lifetime(_text(values, "session_lifetime"), _env("session_lifetime"), False)),
        show_everyone_else=_flag(values, "show_everyone_else"),
    )


def is_loopback(host: str | None) -> bool:
    """Whether a listening address reaches only this machine. None (unknown, as under gunicorn) is not."""
    if host is None:
        return False
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[] ")).is_loopback
    except ValueError:
        return False  # a host name, or "" (every address)


def check_exposure(mode: str, host: str | None, public_without_auth: bool) -> None:
    """Refuse (UserError, one line) to serve without sign-in on an address others can reach, unless told to."""
    if mode == "none" and not is_loopback(host) and not public_without_auth:
        where = f"on {host}" if host is not None else "where the listening address is not known (gunicorn)"
        raise UserError(
            f"refusing to serve without sign-in {where}: anyone who reaches it would see every user's IO. "
            f"Choose --auth proxy, ldap or local, or set {_env('public_without_auth')}=1 "
            "(serve: --i-know-this-is-public) if that is intended."
        )
