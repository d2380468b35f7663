"""Local accounts: a password checked against its stored argon2 hash, with no way to tell unknown logins apart.

The accounts live in the database; this module sees them only through `find` (a login's account, or None) and
`rehashed` (store a fresh hash after a sign-in that used older parameters), so it holds no SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from argon2 import PasswordHasher

from clusterdash.auth.outcomes import BadCredentials, Identity
from clusterdash.auth.passwords import HASHER, dummy_verify, hash_password, verify_password
from clusterdash.auth.roles import Role


@dataclass(frozen=True)
class LocalAccount:
    login: str
    password_hash: str = field(repr=False)
    role: Role
    display_name: str = ""
    disabled: bool = False


class LocalAuthenticator:
    def __init__(
        self,
        find: Callable[[str], LocalAccount | None],
        rehashed: Callable[[str, str], None] | None = None,
        hasher: PasswordHasher = HASHER,
    ) -> None:
        self.find = find
        self.rehashed = rehashed
        self.hasher = hasher
        dummy_verify("", hasher)  # makes the dummy hash now, so the first unknown login is not slower

    def __call__(self, login: str, password: str) -> Identity | BadCredentials:
        account = self.find(login)
        if account is None or account.disabled:
            dummy_verify(password, self.hasher)  # the same work as a real check: timing tells nothing
            return BadCredentials("unknown login" if account is None else "account disabled")
        verified = verify_password(account.password_hash, password, self.hasher)
        if not verified.ok:
            return BadCredentials("wrong password")
        if verified.needs_rehash and self.rehashed is not None:
            self.rehashed(account.login, hash_password(password, self.hasher))
        return Identity(account.login, "local", account.role, account.display_name or account.login)
