"""API tokens for scripts: made here, shown once, stored only as a hash, presented as `Authorization: Bearer`.

A token reads `cdt_<id>_<secret>`: the prefix lets secret scanners and people recognise it; the id (12 hex
digits, not secret) names it in listings, revocations and the audit log, and finds its row; the secret is
32 bytes from `secrets`. The database keeps sha256(token), not the token.

Why a plain sha256 and not argon2 as for passwords: a slow, salted KDF protects low-entropy secrets that
people choose (a dictionary attack on a stolen hash). A token has 256 random bits: finding a preimage of its
hash is infeasible however fast the hash, and no two tokens share a value, so a salt adds nothing. A fast hash
keeps checking a token to about a microsecond per API request, where argon2 would cost ~0.1 s and 64 MiB.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from enum import Enum

from clusterdash.errors import BadParameter

PREFIX = "cdt_"
ID_BYTES = 6
SECRET_BYTES = 32
TOKEN = re.compile(rf"{PREFIX}([0-9a-f]{{{2 * ID_BYTES}}})_([A-Za-z0-9_-]{{43}})")  # 43 = base64 of 32 bytes

DEFAULT_EXPIRES = "90d"
NEVER = "never"
UNITS = {"h": 3600, "d": 86400, "w": 7 * 86400}
LIFETIME = re.compile(r"(\d{1,5})([hdw])")
MAX_LIFETIME = 10 * 366 * 86400  # a bound, so a typo cannot overflow a date; say "never" to mean it


@dataclass(frozen=True)
class NewToken:
    token: str = field(repr=False)  # show it once, store it nowhere
    token_id: str
    token_hash: str


@dataclass(frozen=True)
class PresentedToken:
    """A well-formed token from a request: not yet checked against its stored row."""

    token_id: str
    token: str = field(repr=False)


@dataclass(frozen=True)
class StoredToken:
    """A token's row, as the web tier reads it by id."""

    token_id: str
    token_hash: str
    login: str  # the owner: the token carries their role and scope as they are now
    expires_at: int | None  # UTC epoch; None: never
    revoked_at: int | None = None


class TokenProblem(str, Enum):
    MALFORMED = "malformed"  # "Bearer" with something that is not a clusterdash token
    UNKNOWN = "unknown"  # no such token (or the secret does not match its id)
    EXPIRED = "expired"
    REVOKED = "revoked"


def new_token() -> NewToken:
    token = f"{PREFIX}{secrets.token_hex(ID_BYTES)}_{secrets.token_urlsafe(SECRET_BYTES)}"
    parsed = TOKEN.fullmatch(token)
    assert parsed is not None  # the format and the generator agree by construction
    return NewToken(token=token, token_id=parsed[1], token_hash=hash_token(token))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def parse_token(text: str) -> PresentedToken | None:
    match = TOKEN.fullmatch(text.strip())
    return PresentedToken(token_id=match[1], token=match[0]) if match else None


def bearer_token(authorization: str | None) -> PresentedToken | TokenProblem | None:
    """The token in an Authorization header; None when there is none or the scheme is not Bearer (a proxy's
    own Basic sign-in is not ours to judge); MALFORMED when Bearer carries something else."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return parse_token(credentials) or TokenProblem.MALFORMED


def check_token(presented: PresentedToken, stored: StoredToken | None, now: float) -> StoredToken | TokenProblem:
    """The stored token if `presented` may be used at `now`, else the problem.

    The secret is checked first, in constant time: the id is not secret, so someone who knows only the id must
    learn nothing (not even that it expired or was revoked)."""
    if stored is None or not hmac.compare_digest(stored.token_hash, hash_token(presented.token)):
        return TokenProblem.UNKNOWN
    if stored.revoked_at is not None and stored.revoked_at <= now:
        return TokenProblem.REVOKED
    if stored.expires_at is not None and now >= stored.expires_at:
        return TokenProblem.EXPIRED
    return stored


def parse_lifetime(text: str, name: str = "expires", allow_never: bool = True) -> int | None:
    """Seconds in "12h", "90d" or "2w"; None for "never" (where allowed). BadParameter names `name` otherwise."""
    value = text.strip().lower()
    if value == NEVER and allow_never:
        return None
    match = LIFETIME.fullmatch(value)
    allowed = "a number of hours, days or weeks (12h, 90d, 2w)" + (f" or {NEVER!r}" if allow_never else "")
    if not match:
        raise BadParameter(name, f"{text!r} is not {allowed}")
    seconds = int(match[1]) * UNITS[match[2]]
    if not 0 < seconds <= MAX_LIFETIME:
        raise BadParameter(name, f"{text!r}: between 1 hour and {MAX_LIFETIME // 86400} days")
    return seconds


def expires_at(now: int, lifetime: int | None) -> int | None:
    return None if lifetime is None else now + lifetime
