"""The errors a user can cause and fix, as one small family.

The CLI prints any `UserError` as one line; the API answers a `BadParameter` with a 400 naming the parameter.
A database that cannot be reached (`database_unreachable`) is not a bug either: one line from the CLI, a 503
from the API. Anything else is a bug and shows as one: a 500 with no traceback for a web client, a traceback on
the terminal with CLUSTERDASH_DEBUG=1.
"""

from __future__ import annotations

SQLITE_BUSY = 5  # SQLite's primary result code for "database is locked"


class UserError(Exception):
    """Something the user asked for cannot be done; the message says what and why, in one line."""


class BadParameter(UserError):
    """A parameter (an API query argument, a dashboard input, a CLI option) whose value cannot be used."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


class InputError(UserError):
    """A path that cannot be read: the message names it and says why."""


class DatabaseURLError(UserError):
    """A --db value that is not a usable database URL, or names a database that does not exist."""


def database_unreachable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached now, which the user or an admin can fix: it failed while
    connecting (before any statement), the connection was lost, no pooled connection came free, or SQLite stayed
    busy (another writer) past its timeout. Any other database error is a bug."""
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, OperationalError):
        return False
    busy = (getattr(exc.orig, "sqlite_errorcode", 0) or 0) & 0xFF == SQLITE_BUSY
    return exc.statement is None or exc.connection_invalidated or busy
