"""What a sign-in attempt can come to, as values: who it was, wrong credentials, no directory, or too soon.

Authenticators (LDAP, local accounts) return `Identity | BadCredentials | Unavailable`; `signin.sign_in` adds
`Throttled`. Only `BadCredentials` counts as a failed sign-in: an unreachable directory is the server's
problem, not a guess. The reasons are for the log and the audit trail, never for the client, which is told
only "wrong login or password" (no hint whether the login exists).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from clusterdash.auth.roles import Method, Role


@dataclass(frozen=True)
class Identity:
    """Credentials that proved who someone is. `role` None: the source says nothing, the accounts table decides."""

    login: str
    method: Method
    role: Role | None = None
    display_name: str = ""


@dataclass(frozen=True)
class BadCredentials:
    reason: str  # "unknown login", "wrong password", ...: for the log only


@dataclass(frozen=True)
class Unavailable:
    reason: str  # the directory is unreachable, times out or refuses the service account: for the log only


@dataclass(frozen=True)
class Throttled:
    retry_after: float  # seconds until the next attempt is considered


AuthResult = Identity | BadCredentials | Unavailable
SignInResult = Identity | BadCredentials | Unavailable | Throttled
# An authenticator checks a login and a password; it never raises for anything the client or directory does.
Authenticator = Callable[[str, str], AuthResult]
