"""API answers reused until the data changes: the data changes only when an ingest commits, so an answer is valid
until the next commit. Kept per (endpoint, arguments, access scope, data version), bounded in bytes, and sent with
an ETag of the same key: a script or a proxy that sends it back (If-None-Match) gets a 304 without a query.

`reuse(engine_provider, scope)` makes the decorator the API puts on its endpoints whose answers depend only on
the data (not on the clock, as /api/stats' age does).
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

from flask import Response, request
from sqlalchemy import Engine

from clusterdash.db import query

CACHE_BYTES = 32 * 2**20  # per process; an answer larger than a quarter of it is sent, not kept


class Kept(NamedTuple):
    body: bytes
    mimetype: str
    headers: tuple[tuple[str, str], ...]


class AnswerCache:
    """Response bodies by key, the least recently used dropped first once their bytes pass `limit`."""

    def __init__(self, limit: int = CACHE_BYTES) -> None:
        self.limit = limit
        self.bytes = 0
        self._kept: OrderedDict[tuple, Kept] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Kept | None:
        with self._lock:
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
            return found

    def put(self, key: tuple, kept: Kept) -> None:
        if len(kept.body) > self.limit // 4:
            return
        with self._lock:
            if key in self._kept:
                return
            self._kept[key] = kept
            self.bytes += len(kept.body)
            while self.bytes > self.limit:
                self.bytes -= len(self._kept.popitem(last=False)[1].body)

    def __len__(self) -> int:
        return len(self._kept)


KEPT_HEADERS = ("Content-Disposition",)


def reuse(
    engine_provider: Callable[[], Engine], scope: Callable[[], Any], cache: AnswerCache | None = None
) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """A decorator for API endpoints: the answer from `cache` when this question (path, arguments, scope) was
    answered at this data version, a 304 when the client already holds it; else the endpoint's own answer,
    kept when it is a 200."""
    cache = cache if cache is not None else AnswerCache()

    def decorate(view: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(view)
        def answered(**kwargs: Any) -> Response:
            with engine_provider().connect() as conn:
                version = tuple(query.data_version(conn))
            key = (request.path, tuple(sorted(request.args.items(multi=True))), scope(), version)
            etag = hashlib.sha256(repr(key).encode()).hexdigest()[:32]
            if request.if_none_match.contains(etag):
                response = Response(status=304)
                response.set_etag(etag)
                return response
            kept = cache.get(key)
            if kept is not None:
                response = Response(kept.body, mimetype=kept.mimetype, headers=list(kept.headers))
            else:
                response = view(**kwargs)
                if response.status_code == 200 and not response.direct_passthrough:
                    headers = tuple((k, v) for k, v in response.headers.items() if k in KEPT_HEADERS)
                    cache.put(key, Kept(response.get_data(), response.mimetype or "application/json", headers))
            if response.status_code == 200:
                response.set_etag(etag)
            return response

        return answered

    return decorate
