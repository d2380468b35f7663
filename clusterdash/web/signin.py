"""The sign-in page (--auth ldap and local) and sign-out: a plain Flask form, served by the app, with no script and
no file from anywhere else (its one inline style is allowed by its hash).

A sign-in goes through auth.signin.sign_in: throttled first (429 with Retry-After, the password not even
checked), then the directory or the local accounts (a directory that cannot be reached is a 503, not a failed
sign-in), recorded in the audit trail either way. The form carries a CSRF token kept in the session cookie; so
does sign-out, which is a POST. At most MAX_CHECKS password checks run at once per process: argon2 spends 64 MiB
and ~0.1 s on each, and a burst of attempts must not take the server's memory.
"""

from __future__ import annotations

import hmac
import math
import secrets
import threading
import time

from flask import Blueprint, Flask, Response, has_request_context, redirect, request, session
from markupsafe import Markup, escape

from clusterdash.auth.audit import AuditEvent, AuditKind
from clusterdash.auth.ldap import LdapAuthenticator
from clusterdash.auth.local import LocalAccount, LocalAuthenticator
from clusterdash.auth.outcomes import Authenticator, BadCredentials, Identity, Throttled, Unavailable
from clusterdash.auth.roles import MAX_LOGIN_LENGTH, Role
from clusterdash.auth.signin import sign_in
from clusterdash.auth.throttle import Policy, Throttle
from clusterdash.db import accounts
from clusterdash.web.auth import Gate, Refusal, principal_if_any
from clusterdash.web.headers import content_security_policy, style_hash
from clusterdash.web.layout import SignedIn

MAX_CHECKS = 2  # concurrent password checks per process
CHECK_WAIT = 10.0  # seconds an attempt waits for a free check before a 503
MAX_PASSWORD = 1024

STYLE = (
    "body{font-family:system-ui,sans-serif;background:#f3f5f7;margin:0;color:#212529}"
    "main{max-width:22rem;margin:12vh auto;background:#fff;padding:2rem;border-radius:.5rem;"
    "box-shadow:0 1px 4px rgba(0,0,0,.12)}"
    "h1{font-size:1.3rem;margin:0 0 1.2rem}label{display:block;font-size:.9rem;margin:.8rem 0 .3rem}"
    "input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.45rem;font-size:1rem;"
    "border:1px solid #ced4da;border-radius:.3rem}"
    "button{margin-top:1.2rem;width:100%;padding:.55rem;font-size:1rem;border:0;border-radius:.3rem;"
    "background:#0b5ed7;color:#fff;cursor:pointer}"
    ".message{background:#fff3cd;border:1px solid #ffe69c;padding:.6rem;border-radius:.3rem;font-size:.9rem}"
    ".brand{color:#6c757d;font-size:.85rem}"
)
PAGE_POLICY = content_security_policy(style_sources=[style_hash(STYLE)])
HOW = {"ldap": "your campus account", "local": "your clusterdash account"}


def register_signin(server: Flask, gate: Gate) -> None:
    """The sign-in page and sign-out on `server` (--auth ldap and local; the proxy's own page otherwise)."""
    if gate.config.mode in ("ldap", "local"):
        server.register_blueprint(signin_blueprint(gate))


def signin_blueprint(gate: Gate) -> Blueprint:
    bp = Blueprint("clusterdash_auth", __name__)
    authenticate = _authenticator(gate)
    throttle = Throttle(accounts.ThrottleTable(gate.engine, Policy().forget_after), Policy())
    checks = threading.BoundedSemaphore(MAX_CHECKS)

    def record(event: AuditEvent) -> None:
        gate.audit(event.kind, event.login, event.method, event.detail)

    @bp.route("/sign-in", methods=["GET", "POST"], endpoint="sign_in")
    def sign_in_page():
        target = _local_path(request.values.get("next", "/"))
        if request.method == "GET":
            if isinstance(gate.from_session(), Refusal):
                return _page(gate, target)
            return redirect(target, 303)
        if not _csrf_ok():
            return _page(gate, target, "The form had expired; please sign in again.", 400)
        login = request.form.get("login", "").strip()[: MAX_LOGIN_LENGTH + 32]
        password = request.form.get("password", "")[:MAX_PASSWORD]
        if not checks.acquire(timeout=CHECK_WAIT):
            return _page(gate, target, "Too many sign-ins at once; try again in a moment.", 503, retry_after=5)
        try:
            mode = gate.config.mode
            result = sign_in(login, password, gate.address(), method=mode, authenticate=authenticate,
                             throttle=throttle, audit=record)  # fmt: skip
        finally:
            checks.release()
        if isinstance(result, Throttled):
            wait = math.ceil(result.retry_after)
            return _page(gate, target, f"Too many failed sign-ins: try again in {wait} s.", 429, retry_after=wait)
        if isinstance(result, Unavailable):
            return _page(gate, target, "The directory cannot be reached now; try again later.", 503, retry_after=30)
        if isinstance(result, BadCredentials):
            return _page(gate, target, "Wrong login or password.", 401, login=login)
        return _signed_in(gate, result, target)

    @bp.post("/sign-out")
    def sign_out():
        if not _csrf_ok():
            return _page(gate, "/", "The form had expired; please try again.", 400)
        login = session.get("login", "")
        session.clear()
        if login:
            gate.audit(AuditKind.SIGN_OUT, login, gate.config.mode)
        return redirect("/sign-in", 303)

    return bp


def _authenticator(gate: Gate) -> Authenticator:
    if gate.config.mode == "ldap":
        assert gate.config.ldap is not None
        return LdapAuthenticator(gate.config.ldap)

    def find(login: str) -> LocalAccount | None:
        with gate.engine.connect() as conn:
            account = accounts.get_account(conn, login)
        if account is None or account.password_hash is None:
            return None
        return LocalAccount(account.login, account.password_hash, Role(account.role), account.display_name,
                            account.disabled)  # fmt: skip

    def rehashed(login: str, new_hash: str) -> None:
        # Not update_account: a better hash of the same password must not end the account's sessions.
        accounts.replace_password_hash(gate.engine, login, new_hash)

    return LocalAuthenticator(find, rehashed)


def _signed_in(gate: Gate, identity: Identity, target: str) -> Response:
    with gate.engine.connect() as conn:
        account = accounts.get_account(conn, identity.login)
    version = account.session_version if account is not None else 0
    directory_role = identity.role.value if identity.method == "ldap" and identity.role else None
    if gate.account_principal(identity.login, gate.config.mode, version, directory_role) is None:
        gate.audit(AuditKind.REFUSED, identity.login, gate.config.mode, "signed in, but the account is disabled")
        return _page(gate, target, "This login is disabled here; ask the clusterdash admins.", 403)
    session.clear()
    session.permanent = True
    session.update(
        login=identity.login,
        v=version,
        role=directory_role,
        name=(account.display_name if account is not None else "") or identity.display_name or identity.login,
        at=int(time.time()),
        csrf=secrets.token_urlsafe(24),
    )
    return redirect(target, 303)


def signed_in(gate: Gate) -> SignedIn | None:
    """Who the page header names, with a sign-out button when the session is ours. None with --auth none, and when
    nobody is signed in: Dash draws the layout once when it is set and once more on the first request, which
    may be the sign-in page's."""
    if gate.config.mode == "none" or not has_request_context():
        return None
    who = principal_if_any()
    if who is None:
        return None
    ours = who.method in ("ldap", "local")
    name = session.get("name") if ours else who.display_name
    return SignedIn(str(name or who.login), who.role.value, csrf_token() if ours else None)


def csrf_token() -> str:
    """The session's CSRF token (made when there is none): for the sign-in and sign-out forms."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = session["csrf"] = secrets.token_urlsafe(24)
    return token


def _csrf_ok() -> bool:
    expected, given = session.get("csrf"), request.form.get("csrf", "")
    return isinstance(expected, str) and hmac.compare_digest(expected.encode(), given.encode())


def _local_path(target: str) -> str:
    """Where to go after signing in: a path on this site only (never //host or a scheme)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target or len(target) > 2000:
        return "/"
    return target


def _page(
    gate: Gate, target: str, message: str = "", status: int = 200, retry_after: int | None = None, login: str = ""
) -> Response:
    how = HOW.get(gate.config.mode, "your account")
    notice = Markup(f'<p class="message" role="alert">{escape(message)}</p>') if message else ""
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · clusterdash</title><style>{STYLE}</style></head>
<body><main>
<div class="brand">clusterdash</div><h1>Sign in</h1>{notice}
<form method="post" action="/sign-in">
<input type="hidden" name="csrf" value="{escape(csrf_token())}">
<input type="hidden" name="next" value="{escape(target)}">
<label for="login">Login</label>
<input type="text" id="login" name="login" value="{escape(login)}" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit" id="sign-in">Sign in with {escape(how)}</button>
</form></main></body></html>"""
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response
