"""The audit trail of sign-ins and refusals, as values handed to a sink.

The building blocks produce `AuditEvent`s; where they go is the caller's choice: `log_sink` writes them to the
`clusterdash.auth.audit` logger (always), and the web tier can also store them in a table. Values that came
from a client (a login, a header) are kept as data and shown with repr(), so they cannot forge log lines.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

LOG = logging.getLogger("clusterdash.auth.audit")


class AuditKind(str, Enum):
    SIGN_IN = "sign-in"
    SIGN_IN_FAILED = "sign-in-failed"
    THROTTLED = "throttled"  # an attempt refused before its credentials were checked
    DIRECTORY_UNAVAILABLE = "directory-unavailable"  # not a failed sign-in: the server's problem
    REFUSED = "refused"  # a request without acceptable credentials: untrusted proxy, bad token...
    SIGN_OUT = "sign-out"


@dataclass(frozen=True)
class AuditEvent:
    at: float  # UTC epoch seconds
    kind: AuditKind
    login: str  # as presented; "" when there was none
    address: str  # the client's address ("" if unknown)
    method: str  # proxy, ldap, local, token
    detail: str = ""  # why, for the operator: never shown to the client


AuditSink = Callable[[AuditEvent], None]

_LEVELS = {
    AuditKind.SIGN_IN: logging.INFO,
    AuditKind.SIGN_OUT: logging.INFO,
    AuditKind.DIRECTORY_UNAVAILABLE: logging.ERROR,
}


def log_sink(event: AuditEvent) -> None:
    LOG.log(
        _LEVELS.get(event.kind, logging.WARNING),
        "%s login=%r address=%r method=%s %s",
        event.kind.value,
        event.login,
        event.address,
        event.method,
        event.detail,
    )
