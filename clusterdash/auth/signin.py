"""One sign-in attempt, whatever checks the password: throttle first, then the authenticator, then the record.

`sign_in` is what a sign-in form's handler calls. Refused early while throttled (the password is not even
checked, so guessing during the wait is useless); a wrong password counts against the login and the address;
a directory that cannot be reached does not count, and the audit trail says which it was.
"""

from __future__ import annotations

from clusterdash.auth.audit import AuditEvent, AuditKind, AuditSink
from clusterdash.auth.outcomes import Authenticator, BadCredentials, Identity, SignInResult, Throttled, Unavailable
from clusterdash.auth.roles import MAX_LOGIN_LENGTH, Method, check_login
from clusterdash.auth.throttle import Throttle
from clusterdash.errors import BadParameter

AUDITED_LOGIN_LENGTH = MAX_LOGIN_LENGTH + 32  # a hostile "login" is kept, but not a megabyte of it


def sign_in(
    login: str,
    password: str,
    address: str,
    *,
    method: Method,
    authenticate: Authenticator,
    throttle: Throttle,
    audit: AuditSink,
) -> SignInResult:
    def record(kind: AuditKind, detail: str = "", who: str = login) -> None:
        audit(AuditEvent(throttle.clock(), kind, who[:AUDITED_LOGIN_LENGTH], address, method, detail))

    wait = throttle.retry_after(login, address)
    if wait > 0:
        record(AuditKind.THROTTLED, f"retry after {wait:.1f} s")
        return Throttled(wait)
    try:
        check_login(login)
        result = authenticate(login, password)
    except BadParameter as exc:
        result = BadCredentials(exc.message)
    if isinstance(result, BadCredentials):
        throttle.failed(login, address)
        record(AuditKind.SIGN_IN_FAILED, result.reason)
    elif isinstance(result, Unavailable):
        record(AuditKind.DIRECTORY_UNAVAILABLE, f"{result.reason} (not counted as a failed sign-in)")
    elif isinstance(result, Identity):
        throttle.succeeded(login, address)
        throttle.succeeded(result.login, address)  # the directory's spelling of the login may differ
        record(
            AuditKind.SIGN_IN, f"role {result.role.value if result.role else 'from the accounts table'}", result.login
        )
    return result
