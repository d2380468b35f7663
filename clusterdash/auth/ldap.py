"""Sign-in against the campus directory with ldap3: find the person, bind as them, read their groups.

Two ways to find a person's entry: a DN template (`uid={login},ou=people,dc=example,dc=edu`), or a search
(`CLUSTERDASH_LDAP_SEARCH_BASE` and a filter such as `(uid={login})`, after binding as a service account or
anonymously). The login is escaped for where it goes (RFC 4514 in a DN, RFC 4515 in a filter), so no login
can change the shape of either. Then a simple bind as the person proves the password (an empty password
is refused first: LDAP treats it as an anonymous bind that "succeeds"). The role comes from membership of
the admin and staff groups (`member`/`uniqueMember` by DN, or `memberUid` by login); the login and display
name from the entry, so "Alice" typed at the form becomes the directory's "alice".

The connection is plain LDAP, LDAP upgraded with STARTTLS, or LDAPS; certificates are always verified
(against the system CAs or `ca_file`). Every network step has a timeout. The result is an `Identity`,
`BadCredentials` (the password or login is wrong: the only failure that counts for throttling) or
`Unavailable` (unreachable, timed out, TLS failed, the service account refused: logged as the server's
problem, not the user's).
"""

from __future__ import annotations

import contextlib
import logging
import math
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ldap3 import ANONYMOUS, BASE, NONE, SIMPLE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from clusterdash.auth.outcomes import BadCredentials, Identity, Unavailable
from clusterdash.auth.roles import Role

LOG = logging.getLogger("clusterdash.auth")

LOGIN_PLACEHOLDER = "{login}"
INVALID_CREDENTIALS = 49  # the LDAP result code for a wrong password or a DN that does not exist
DEFAULT_PORTS = {"ldap": 389, "ldaps": 636}
DISPLAY_NAME_ATTRIBUTES = ("displayName", "cn")


@dataclass(frozen=True)
class LdapSettings:
    url: str  # ldap://host[:port] or ldaps://host[:port]
    user_dn_template: str | None = None  # either this ...
    search_base: str | None = None  # ... or this with search_filter
    search_filter: str = "(uid={login})"
    bind_dn: str | None = None  # the service account for the search (None: search anonymously)
    bind_password: str | None = field(default=None, repr=False)
    starttls: bool = False
    ca_file: str | None = None  # None: the system's CAs
    admin_group: str | None = None  # group DNs
    staff_group: str | None = None
    login_attribute: str = "uid"
    timeout: float = 5.0  # seconds, for connecting and for each answer


class _Refused(Exception):
    """A step the directory refused. Only the person's own bind failing with result 49 is a wrong password:
    the same answer to the service account's bind means clusterdash is misconfigured."""

    def __init__(self, result: dict[str, Any], step: str, person: bool = False) -> None:
        super().__init__(f"{step}: {result.get('description')} ({result.get('message') or result.get('result')})")
        self.wrong_password = person and result.get("result") == INVALID_CREDENTIALS


class LdapAuthenticator:
    def __init__(self, settings: LdapSettings) -> None:
        self.settings = settings
        parts = urlsplit(settings.url)
        self._server = Server(
            parts.hostname or "",
            port=parts.port or DEFAULT_PORTS[parts.scheme],
            use_ssl=parts.scheme == "ldaps",
            tls=Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=settings.ca_file),
            get_info=NONE,
            connect_timeout=settings.timeout,
        )

    def __call__(self, login: str, password: str) -> Identity | BadCredentials | Unavailable:
        if not password:
            return BadCredentials("empty password")  # an LDAP simple bind with no password is anonymous
        try:
            return self._authenticate(login, password)
        except _Refused as exc:
            if exc.wrong_password:
                return BadCredentials(
                    "wrong password" if self.settings.user_dn_template is None else "wrong login or password"
                )
            return self._unavailable(login, str(exc))
        except (LDAPException, OSError) as exc:  # OSError: a socket or TLS error ldap3 did not wrap
            return self._unavailable(login, f"{type(exc).__name__}: {exc}")

    def _unavailable(self, login: str, reason: str) -> Unavailable:
        LOG.warning(
            "LDAP directory %s: %s; the sign-in of %r is refused but not counted as a failed one",
            self.settings.url,
            reason,
            login[:200],
        )
        return Unavailable(f"{self.settings.url}: {reason}")

    def _connect(self, user: str | None, password: str | None, person: bool = False) -> Connection:
        step = "bind as the person" if person else "service bind"
        connection = Connection(
            self._server,
            user=user,
            password=password,
            authentication=SIMPLE if user else ANONYMOUS,
            receive_timeout=max(1, math.ceil(self.settings.timeout)),  # ldap3 packs whole seconds
            read_only=True,
            auto_referrals=False,
            raise_exceptions=False,
        )
        try:
            connection.open()
            if self.settings.starttls and not connection.start_tls():
                raise _Refused(connection.result or {}, f"{step}: STARTTLS")
            if user and not connection.bind():
                raise _Refused(connection.result, step, person)
        except BaseException:
            _close(connection)
            raise
        return connection

    def _authenticate(self, login: str, password: str) -> Identity | BadCredentials:
        settings = self.settings
        # A service connection when there is something to search; with a DN template, only if configured.
        service = None
        if settings.bind_dn or not settings.user_dn_template:
            service = self._connect(settings.bind_dn, settings.bind_password)
        try:
            found = self._find(service, login)
            if found is None:
                return BadCredentials("unknown login")
            dn, entry = found
            person = self._connect(dn, password, person=True)
            try:
                entry = entry or self._read(person, dn)
                canonical = _first(entry, settings.login_attribute) or login
                display_name = next(filter(None, (_first(entry, a) for a in DISPLAY_NAME_ATTRIBUTES)), canonical)
                # Groups are read by the service account if there is one (directories often hide groups from
                # the people in them), else by the person.
                role = self._role(service if settings.bind_dn else person, dn, canonical)
            finally:
                _close(person)
        finally:
            if service is not None:
                _close(service)
        return Identity(canonical, "ldap", role, display_name)

    def _find(self, connection: Connection | None, login: str) -> tuple[str, dict[str, list[Any]]] | None:
        """The person's DN (and entry, when searched); None when no entry has this login."""
        template = self.settings.user_dn_template
        if template:
            return template.replace(LOGIN_PLACEHOLDER, escape_rdn(login)), {}
        assert connection is not None  # _authenticate opens one whenever there is no template
        query = self.settings.search_filter.replace(LOGIN_PLACEHOLDER, escape_filter_chars(login))
        entries = self._search(connection, self.settings.search_base or "", query, SUBTREE, size_limit=2)
        if len(entries) > 1:
            raise _Refused({"description": "ambiguous", "message": f"{query} matches several entries"}, "search")
        return (entries[0]["dn"], entries[0]["attributes"]) if entries else None

    def _read(self, connection: Connection, dn: str) -> dict[str, list[Any]]:
        entries = self._search(connection, dn, "(objectClass=*)", BASE)
        return entries[0]["attributes"] if entries else {}

    def _role(self, connection: Connection, dn: str, login: str) -> Role:
        member = (
            f"(|(member={escape_filter_chars(dn)})(uniqueMember={escape_filter_chars(dn)})"
            f"(memberUid={escape_filter_chars(login)}))"
        )
        for group, role in ((self.settings.admin_group, Role.ADMIN), (self.settings.staff_group, Role.STAFF)):
            if group and self._search(connection, group, member, BASE, attributes=["1.1"]):
                return role
        return Role.USER

    def _search(
        self,
        connection: Connection,
        base: str,
        query: str,
        scope: str,
        size_limit: int = 1,
        attributes: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        attributes = attributes or [self.settings.login_attribute, *DISPLAY_NAME_ATTRIBUTES]
        found = connection.search(
            base,
            query,
            scope,
            attributes=attributes,
            size_limit=size_limit,
            time_limit=max(1, round(self.settings.timeout)),
        )
        result = connection.result or {}
        # 32 noSuchObject: the base (a group, a template's DN) is not there, which answers "no";
        # 4 sizeLimitExceeded: more entries than asked for, which the caller sees as an ambiguous login.
        if not found and result.get("result") not in (0, 4, 32):
            raise _Refused(result, f"search {base!r}")
        return [e for e in connection.response or [] if e.get("type") == "searchResEntry"]


def _close(connection: Connection) -> None:
    """Unbind and close; a connection that broke (the error being reported) cannot mask that error."""
    with contextlib.suppress(LDAPException, OSError):
        connection.unbind()


def _first(entry: dict[str, Any], attribute: str) -> str:
    value = next((v for k, v in entry.items() if k.lower() == attribute.lower()), None)
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value) if value is not None else ""
