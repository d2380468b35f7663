"""Who is asking, for every request, before anything else runs: the Flask side of access control.

`install_auth(server, engine, values)` (the app factory calls it once, first) adds one before_request that
covers every route, the pages, Dash's /_dash-layout, /_dash-dependencies, /_dash-update-component,
/_dash-component-suites, /assets and /api alike (protecting the page but not the callback endpoint is the known
trap, plotly/dash#98): only the sign-in page is open. The principal is, in this order:

1. an API token (`Authorization: Bearer cdt_...`), in every mode but none;
2. with --auth proxy, the login header, believed only from CLUSTERDASH_TRUSTED_PROXIES;
3. with --auth ldap or local, the session cookie the sign-in page set (web/signin.py).

Anything else is refused: 401 JSON under /api and /_dash-*, a redirect to the sign-in page otherwise (a 401 page
with --auth proxy, whose sign-in is the proxy's). With --auth none everyone is NO_AUTH (sees everything), which
check_exposure allows on loopback only. The principal is kept in flask.g; `current_scope()` is what the API and
the dashboard put into every question (Filters.visible_users).

A session costs a signature check and a cache look-up: the principal is kept per (login, session version) for
PRINCIPAL_TTL seconds, so a change to the account (password, role, mapping, disabling: each raises the version)
ends its sessions within that time, and a request never waits for the directory. A token's row is read on every
request, so a revoked or expired token stops at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, g, jsonify, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from clusterdash.auth.audit import AuditEvent, AuditKind, log_sink
from clusterdash.auth.proxy import ProxyRefusal, client_address, proxy_login
from clusterdash.auth.roles import NO_AUTH, Method, Principal, Role, access_scope, principal
from clusterdash.auth.settings import AuthConfig, auth_config
from clusterdash.auth.tokens import StoredToken, TokenProblem, bearer_token, check_token
from clusterdash.db import accounts
from clusterdash.web.headers import add_security_headers, content_security_policy

LOG = logging.getLogger("clusterdash.auth")
PRINCIPAL_TTL = 10.0  # seconds a principal is reused before its account is read again
PRINCIPAL_CACHE = 10_000  # principals kept per process
REFUSAL_AUDIT_EVERY = 60.0  # the same refusal (kind, address, reason) is recorded at most this often
SESSION_KEY_NAME = "session-key"
SIGN_IN_ENDPOINT = "clusterdash_auth.sign_in"
PUBLIC_ENDPOINTS = frozenset({SIGN_IN_ENDPOINT})
RANK = {Role.USER: 0, Role.STAFF: 1, Role.ADMIN: 2}


@dataclass(frozen=True)
class Refusal:
    kind: AuditKind | None  # None: nothing worth recording (no credentials at all)
    reason: str  # for the operator's log, never for the client
    login: str = ""
    method: str = ""


def highest(*roles: Role | str | None) -> Role:
    """The highest of these roles (USER when none is given)."""
    found = [Role(r) for r in roles if r]
    return max(found, key=RANK.__getitem__) if found else Role.USER


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, Secure when the request came over HTTPS (directly, or to a trusted proxy that says
    so in X-Forwarded-Proto)."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    def get_cookie_secure(self, app: Flask) -> bool:
        return self.gate.over_https()


class Gate:
    """One app's access control: its settings, the principal cache, the throttle's store and the audit trail."""

    def __init__(self, engine: Engine, config: AuthConfig) -> None:
        self.engine = engine
        self.config = config
        self.script_hashes: list[str] = []
        self._principals: OrderedDict[tuple, tuple[float, Principal | None]] = OrderedDict()
        self._refusals: dict[tuple, float] = {}
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    # -- the request's client -------------------------------------------------------------------------------

    def peer(self) -> str:
        return request.remote_addr or ""  # gunicorn on a Unix socket reports none

    def address(self) -> str:
        return client_address(self.peer(), request.headers, self.config.trusted)

    def over_https(self) -> bool:
        if request.scheme == "https":
            return True
        forwarded = request.headers.get("X-Forwarded-Proto", "").strip().lower()
        return forwarded == "https" and self.config.trusted.trusts(self.peer())

    # -- the audit trail --------------------------------------------------------------------------------------

    def audit(self, kind: AuditKind, login: str, method: str, detail: str = "") -> None:
        """An event to the log and to the AuthAudit table (a table that cannot be written is logged, and the
        event is in the log all the same)."""
        event = AuditEvent(time.time(), kind, login[:200], self.address()[:64], method, detail[:500])
        log_sink(event)
        row = accounts.AuditRow(event.at, kind.value, event.login, event.address, event.method, event.detail)
        try:
            accounts.add_audit(self.engine, row)
        except SQLAlchemyError as exc:
            LOG.error("cannot store an audit event (%s): %s", kind.value, str(exc).splitlines()[0][:200])

    def refused(self, refusal: Refusal) -> None:
        """Record a refusal, at most once a minute for the same kind, address and reason (a flood of bad
        requests cannot flood the trail)."""
        if refusal.kind is None:
            return
        now, key = time.monotonic(), (refusal.kind, self.address(), refusal.reason[:60])
        with self._lock:
            if now - self._refusals.get(key, -REFUSAL_AUDIT_EVERY) < REFUSAL_AUDIT_EVERY:
                return
            if len(self._refusals) > PRINCIPAL_CACHE:
                self._refusals.clear()
            self._refusals[key] = now
        self.audit(refusal.kind, refusal.login, refusal.method, refusal.reason)

    # -- principals -------------------------------------------------------------------------------------------

    def account_principal(
        self, login: str, method: Method, version: int | None = None, directory_role: Role | str | None = None
    ) -> Principal | None:
        """The principal of `login` signed in by `method`, from its account (if any) and the role its directory
        or proxy gave; None when it may not be one (disabled, removed, or its session's version is past). Kept
        PRINCIPAL_TTL seconds per (login, session version, role, method)."""
        key = (login, version, str(directory_role or ""), method)
        now = time.monotonic()
        with self._lock:
            found = self._principals.get(key)
            if found is not None and now - found[0] < PRINCIPAL_TTL:
                self._principals.move_to_end(key)
                return found[1]
        with self.engine.connect() as conn:
            account = accounts.get_account(conn, login)
        made = _principal_of(login, method, account, version, directory_role)
        with self._lock:
            self._principals[key] = (now, made)
            while len(self._principals) > PRINCIPAL_CACHE:
                self._principals.popitem(last=False)
        return made

    def from_token(self, authorization: str) -> Principal | Refusal | None:
        presented = bearer_token(authorization)
        if presented is None:
            return None
        if presented is TokenProblem.MALFORMED:
            return Refusal(AuditKind.REFUSED, "a Bearer credential that is not a clusterdash token", method="token")
        assert not isinstance(presented, TokenProblem)
        with self.engine.connect() as conn:
            row = accounts.find_token(conn, presented.token_id)
        stored = None if row is None else StoredToken(row.token_id, row.token_hash, row.login, row.expires_at,
                                                      row.revoked_at)  # fmt: skip
        now = time.time()
        checked = check_token(presented, stored, now)
        if isinstance(checked, TokenProblem):
            return Refusal(AuditKind.REFUSED, f"token {presented.token_id}: {checked.value}", method="token")
        who = self.account_principal(checked.login, "token")
        if who is None:
            return Refusal(AuditKind.REFUSED, f"token {checked.token_id}: its account is disabled or gone",
                           checked.login, "token")  # fmt: skip
        self._touch(checked.token_id, now)
        return who

    def _touch(self, token_id: str, now: float) -> None:
        """The token's last-used time, written at most once a minute by this process."""
        with self._lock:
            if now - self._touched.get(token_id, 0.0) < accounts.TOKEN_TOUCH_EVERY:
                return
            if len(self._touched) > PRINCIPAL_CACHE:
                self._touched.clear()
            self._touched[token_id] = now
        accounts.touch_token(self.engine, token_id, int(now))

    def from_proxy(self) -> Principal | Refusal:
        assert self.config.proxy is not None
        decided = proxy_login(self.peer(), request.headers, self.config.proxy)
        if isinstance(decided, ProxyRefusal):
            return Refusal(AuditKind.REFUSED, f"{decided.reason}: {decided.detail}", method="proxy")
        who = self.account_principal(decided.login, "proxy", directory_role=decided.role)
        return who or Refusal(AuditKind.REFUSED, "account disabled", decided.login, "proxy")

    def from_session(self) -> Principal | Refusal:
        login = session.get("login")
        if not isinstance(login, str) or not login:
            return Refusal(None, "not signed in")
        started = session.get("at")
        if not isinstance(started, (int, float)) or time.time() - started > self.config.session_lifetime:
            session.clear()
            return Refusal(None, "session expired", login)
        version = session.get("v")
        who = self.account_principal(login, self.config.mode, version if isinstance(version, int) else -1,
                                     session.get("role"))  # fmt: skip
        if who is None:
            session.clear()
            return Refusal(AuditKind.REFUSED, "session ended (account changed, disabled or removed)", login,
                           self.config.mode)  # fmt: skip
        return who

    def authenticate(self) -> Principal | Refusal:
        if self.config.mode == "none":
            return NO_AUTH
        authorization = request.headers.get("Authorization")
        if authorization:
            found = self.from_token(authorization)
            if found is not None:
                return found
        if self.config.mode == "proxy":
            return self.from_proxy()
        return self.from_session()


def _principal_of(
    login: str, method: Method, account: accounts.Account | None, version: int | None, directory_role: Any
) -> Principal | None:
    if version is not None and version != (account.session_version if account is not None else 0):
        return None
    if account is not None and account.disabled:
        return None
    if account is None and method in ("local", "token"):
        return None
    role = highest(directory_role, account.role if account is not None else None)
    return principal(
        login, role, method, account.usernames if account else (), (account.display_name if account else "") or ""
    )


# -- wiring -----------------------------------------------------------------------------------------------------


def install_auth(server: Flask, engine: Engine, values: dict[str, Any]) -> Gate:
    """Access control on `server`, before any other request handler: the gate, the session cookie and the security
    headers on every response (web/signin.py adds the sign-in page for ldap and local)."""
    config = auth_config(values)
    gate = Gate(engine, config)
    server.extensions["clusterdash_auth"] = gate
    if config.mode != "none":
        server.secret_key = config.secret_key or accounts.server_secret(
            engine, SESSION_KEY_NAME, _new_key, int(time.time())
        )
        server.config.update(
            SESSION_COOKIE_NAME="clusterdash_session",
            SESSION_COOKIE_HTTPONLY=True,
            SESSION_COOKIE_SAMESITE="Lax",
            SESSION_REFRESH_EACH_REQUEST=False,  # a sign-in lasts its lifetime from the sign-in, not from the last use
            PERMANENT_SESSION_LIFETIME=config.session_lifetime,
        )
        server.session_interface = _SessionInterface(gate)

    def check() -> Response | None:
        if request.endpoint in PUBLIC_ENDPOINTS:
            return None
        found = gate.authenticate()
        if isinstance(found, Refusal):
            gate.refused(found)
            return _refuse(gate)
        g.clusterdash_principal = found
        return None

    def headers(response: Response) -> Response:
        policy = content_security_policy(gate.script_hashes)
        return add_security_headers(response, policy, private=config.mode != "none")

    server.before_request_funcs.setdefault(None, []).insert(0, check)
    server.after_request(headers)
    return gate


def _new_key() -> str:
    import secrets

    return secrets.token_urlsafe(48)


def _refuse(gate: Gate) -> Response:
    path = request.path
    if path == "/api" or path.startswith(("/api/", "/_dash-")) or gate.config.mode == "proxy":
        response = jsonify({"error": "not signed in: sign in, or send an API token (Authorization: Bearer)",
                            "parameter": None})  # fmt: skip
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="clusterdash"'
        return response
    target = path + (f"?{request.query_string.decode('latin-1')}" if request.query_string else "")
    return redirect(url_for(SIGN_IN_ENDPOINT, next=target), 303)


def current_principal() -> Principal:
    """Who asks in this request (set by the gate for every route but the sign-in page). A route the gate did not
    cover is a bug, and fails here rather than answering as someone."""
    found = g.get("clusterdash_principal")
    if found is None:
        raise RuntimeError(f"no principal for {request.path!r}: the auth gate did not run")
    return found


def principal_if_any() -> Principal | None:
    """Who asks, or None on the one page open to everyone (the sign-in page)."""
    return g.get("clusterdash_principal")


def current_scope() -> tuple[str, ...] | None:
    """The cluster usernames this request may see (None: everything): what goes into Filters.visible_users."""
    return access_scope(current_principal())


def gate_of(server: Flask) -> Gate:
    return server.extensions["clusterdash_auth"]
