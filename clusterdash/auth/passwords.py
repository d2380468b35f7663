"""Password hashing for local accounts: argon2id (argon2-cffi), rehashing when the parameters change.

`verify_password` never raises for a wrong password or a damaged hash; it says whether the password matched
and whether the stored hash should be replaced (made with older parameters). `dummy_verify` spends the same
time as a real check, so a sign-in for an unknown login cannot be told apart by its timing.
"""

from __future__ import annotations

import functools
import logging
import unicodedata
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from clusterdash.errors import BadParameter

LOG = logging.getLogger("clusterdash.auth")

# RFC 9106's second recommended option (argon2id, 3 passes over 64 MiB, 4 lanes): memory-hard, yet a sign-in
# costs tens of milliseconds. Named here so a change shows up as `needs_rehash` on the next sign-in.
HASHER = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4, hash_len=32, salt_len=16)

MIN_LENGTH = 12  # for passwords set from the CLI: long beats complicated (NIST SP 800-63B)
MAX_LENGTH = 1024  # bounds the work a request can ask for; far beyond any passphrase


@dataclass(frozen=True)
class Verified:
    ok: bool
    needs_rehash: bool = False  # the password matched a hash made with other parameters: store a new one


def _normalized(password: str) -> bytes:
    # The same passphrase typed on another keyboard or OS may arrive composed differently.
    return unicodedata.normalize("NFKC", password).encode("utf-8")


def check_new_password(password: str, name: str = "password") -> str:
    """The password, or BadParameter saying why it cannot be set."""
    if len(password) < MIN_LENGTH:
        raise BadParameter(name, f"too short: at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise BadParameter(name, f"too long: at most {MAX_LENGTH} characters")
    if password != password.strip():
        raise BadParameter(name, "starts or ends with whitespace (a pasted newline?)")
    return password


def hash_password(password: str, hasher: PasswordHasher = HASHER) -> str:
    """The encoded argon2id hash (parameters and salt included) to store for `password`."""
    return hasher.hash(_normalized(password))


def verify_password(stored_hash: str, password: str, hasher: PasswordHasher = HASHER) -> Verified:
    if len(password) > MAX_LENGTH:
        return Verified(False)
    try:
        hasher.verify(stored_hash, _normalized(password))
    except VerifyMismatchError:
        return Verified(False)
    except (InvalidHashError, VerificationError) as exc:
        LOG.error(
            "a stored password hash is not a valid argon2 hash (%s): that account cannot sign in", exc or "damaged"
        )
        return Verified(False)
    return Verified(True, hasher.check_needs_rehash(stored_hash))


@functools.lru_cache(maxsize=4)
def _dummy_hash(time_cost: int, memory_cost: int, parallelism: int, hash_len: int, salt_len: int) -> str:
    hasher = PasswordHasher(time_cost, memory_cost, parallelism, hash_len, salt_len)
    return hasher.hash("no account has this password")


def dummy_verify(password: str, hasher: PasswordHasher = HASHER) -> Verified:
    """Check `password` against a hash nobody owns, with `hasher`'s parameters: as slow as a real check, never ok."""
    params = (hasher.time_cost, hasher.memory_cost, hasher.parallelism, hasher.hash_len, hasher.salt_len)
    verify_password(_dummy_hash(*params), password, hasher)
    return Verified(False)
