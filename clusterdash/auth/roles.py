"""Who is asking and what they may see: the roles, the signed-in `Principal`, and the access scope.

`admin` and `staff` see everything (an admin also manages accounts and tokens); a `user` sees only the IO of
their own cluster usernames: the login itself, unless a mapping names others. The query layer takes
`access_scope(principal)` and applies it in SQL; nothing here touches the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from clusterdash.errors import BadParameter


class Role(str, Enum):
    ADMIN = "admin"
    STAFF = "staff"
    USER = "user"

    @classmethod
    def parse(cls, text: str, name: str = "role") -> Role:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise BadParameter(name, f"{text!r} is not a role (one of {', '.join(r.value for r in cls)})") from None


# How a principal was authenticated: the auth mode, or an API token.
Method = Literal["none", "proxy", "ldap", "local", "token"]

MAX_LOGIN_LENGTH = 128
# No whitespace, control characters, commas or semicolons: a login arrives in headers (where a repeated header
# is joined with commas) and in group lists, and is shown in the audit log.
LOGIN = re.compile(rf"[^\s,;\x00-\x1f\x7f]{{1,{MAX_LOGIN_LENGTH}}}")


def check_login(value: str, name: str = "login") -> str:
    """The login, or BadParameter saying why it cannot be one (the value is not repeated: it may be hostile)."""
    if not LOGIN.fullmatch(value):
        raise BadParameter(
            name, f"not a login (1 to {MAX_LOGIN_LENGTH} characters, no spaces, commas, semicolons or controls)"
        )
    return value


@dataclass(frozen=True)
class Principal:
    """A signed-in person (or script, by token): what every scoped question is asked as."""

    login: str
    role: Role
    cluster_usernames: tuple[str, ...]  # whose IO a `user` sees; unused for admin and staff
    method: Method
    display_name: str = ""

    def __post_init__(self) -> None:
        if self.role is Role.USER and not self.cluster_usernames:
            raise ValueError(f"a user principal needs at least one cluster username: {self.login!r}")


def principal(
    login: str, role: Role, method: Method, mapped_usernames: Iterable[str] = (), display_name: str = ""
) -> Principal:
    """The principal for a login: its cluster usernames are the mapped ones if any, else the login itself."""
    usernames = tuple(sorted(set(mapped_usernames))) or (login,)
    return Principal(login, role, usernames, method, display_name or login)


# `--auth none` (a laptop, loopback only): everyone sees everything, as before access control. Staff, not
# admin: accounts and tokens are managed from the CLI, and nobody signed in could own one.
NO_AUTH = Principal(login="", role=Role.STAFF, cluster_usernames=(), method="none", display_name="")


def access_scope(who: Principal) -> tuple[str, ...] | None:
    """None for "everything" (admin, staff); else the cluster usernames whose IO `who` may see (never empty)."""
    if who.role in (Role.ADMIN, Role.STAFF):
        return None
    return who.cluster_usernames


def can_manage_accounts(who: Principal) -> bool:
    """Accounts, mappings and other people's tokens: admins only."""
    return who.role is Role.ADMIN


def role_from_groups(
    groups: Iterable[str], admin_groups: Iterable[str], staff_groups: Iterable[str], default: Role = Role.USER
) -> Role:
    """The highest role any of `groups` grants (names compared exactly), else `default`."""
    member_of = set(groups)
    if member_of & set(admin_groups):
        return Role.ADMIN
    if member_of & set(staff_groups):
        return Role.STAFF
    return default
