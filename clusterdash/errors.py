"""The errors a user can cause and fix, as one small family.

The CLI prints any `UserError` as one line; the API answers a `BadParameter` with a 400 naming the parameter.
Anything else is a bug and shows as one: a 500 with no traceback for a web client, a traceback on the
terminal with CLUSTERDASH_DEBUG=1.
"""

from __future__ import annotations


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
