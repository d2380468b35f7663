"""Sign-in throttling: after a few failures, each next attempt waits longer, per login and per client address.

The policy: the first `free_failures` failures cost nothing; then the next attempt is refused (without looking
at the password) until `base * 2**(failures - free_failures)` seconds after the last failure, capped at
`cap`; a key is forgotten `forget_after` seconds after its last failure. Defaults: after 5 failures 1 s,
then 2, 4, ... up to 5 minutes, which bounds a guesser to about a dozen tries an hour per login and per
address. A success clears the login's record, not the address's: signing in to one's own account must not
reset the count of guesses at others' from that address.

Only failures the client caused are recorded: a directory that is down is not a wrong password (the caller
records only `BadCredentials`). The state lives behind `ThrottleStore`; `MemoryThrottleStore` keeps it in the
process (each worker would count alone, so a guesser would get the workers' sum); the web tier uses the
database's AuthThrottle table (db.accounts.ThrottleTable), shared by every worker and host.
"""

from __future__ import annotations

import ipaddress
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

IPV6_PREFIX = 64  # one IPv6 client usually holds a whole /64: count the network, not each address
MAX_KEYS = 100_000  # the memory store's bound: a flood of addresses cannot grow it without limit


@dataclass(frozen=True)
class Policy:
    free_failures: int = 5
    base: float = 1.0
    cap: float = 300.0
    forget_after: float = 3600.0

    def delay(self, failures: int) -> float:
        """Seconds after the last of `failures` failures before another attempt is considered."""
        if failures < self.free_failures:
            return 0.0
        return min(self.base * 2.0 ** min(failures - self.free_failures, 64), self.cap)


@dataclass(frozen=True)
class FailureRecord:
    failures: int
    last: float  # UTC epoch of the last failure


class FailureCount(Protocol):
    """What a store answers: a FailureRecord, or a row with the same two fields (db.accounts.Failures)."""

    @property
    def failures(self) -> int: ...

    @property
    def last(self) -> float: ...


class ThrottleStore(Protocol):
    """Failure counts by key. A database store makes `add_failure` one atomic upsert (db.accounts.ThrottleTable)."""

    def get(self, key: str) -> FailureCount | None: ...

    def add_failure(self, key: str, now: float) -> FailureCount: ...

    def clear(self, key: str) -> None: ...


class MemoryThrottleStore:
    """Counts in this process, bounded: when full, the records with the oldest last failure are dropped."""

    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self.max_keys = max_keys
        self._records: dict[str, FailureRecord] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> FailureRecord | None:
        with self._lock:
            return self._records.get(key)

    def add_failure(self, key: str, now: float) -> FailureRecord:
        with self._lock:
            old = self._records.get(key)
            record = FailureRecord((old.failures if old else 0) + 1, now)
            self._records[key] = record
            if len(self._records) > self.max_keys:
                oldest = sorted(self._records, key=lambda k: self._records[k].last)[: len(self._records) // 10]
                for stale in oldest:
                    del self._records[stale]
            return record

    def clear(self, key: str) -> None:
        with self._lock:
            self._records.pop(key, None)

    def __len__(self) -> int:
        return len(self._records)


def login_key(login: str) -> str:
    """One key for every spelling a directory may take for the same login ("Alice", "ALİCE"): casefolded,
    without accents, so a guesser cannot get a fresh count by changing case or adding marks."""
    decomposed = unicodedata.normalize("NFKD", login.casefold())
    return "login:" + "".join(c for c in decomposed if not unicodedata.combining(c))


def address_key(address: str) -> str:
    """The address, or its /64 for IPv6; an unparseable address (a Unix socket peer) is one shared key."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return "addr:?"
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return f"addr:{parsed.ipv4_mapped}"
        return f"addr:{ipaddress.IPv6Network((parsed, IPV6_PREFIX), strict=False)}"
    return f"addr:{parsed}"


class Throttle:
    def __init__(
        self, store: ThrottleStore, policy: Policy | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.policy = policy or Policy()
        self.clock = clock

    def _keys(self, login: str, address: str) -> tuple[str, str]:
        return login_key(login), address_key(address)

    def _live(self, key: str, now: float) -> FailureCount | None:
        record = self.store.get(key)
        if record is not None and now - record.last > self.policy.forget_after:
            self.store.clear(key)
            return None
        return record

    def retry_after(self, login: str, address: str) -> float:
        """0 if an attempt may be checked now, else the seconds to wait (the longer of login's and address's)."""
        now = self.clock()
        waits = [0.0]
        for key in self._keys(login, address):
            record = self._live(key, now)
            if record is not None:
                waits.append(record.last + self.policy.delay(record.failures) - now)
        return max(waits)

    def failed(self, login: str, address: str) -> None:
        now = self.clock()
        for key in self._keys(login, address):
            self._live(key, now)  # a record past forget_after starts again from one
            self.store.add_failure(key, now)

    def succeeded(self, login: str, address: str) -> None:
        self.store.clear(login_key(login))
