"""Judging the rules as hours arrive, and keeping the alerts' state in the database.

The ingest (one-shot or follower) reports, after each commit, the hours whose blocks it has stored complete
(ingest/load.py says which count: a block followed by the next `Log:` line, or taken after the file was quiet for
`settle` seconds; never one still being written). `Evaluator.hours_completed` judges each such hour once for what it
holds: an hour read again unchanged (a re-read of the same file) is not judged again; one that has grown since (a
block completed by a later read) is judged again with its final counts, with the later hours whose windows hold it.
Judging, updating the alerts and recording the hours judged are one write transaction, so two processes never judge
the same hour twice, and a crash leaves the hour unjudged (judged at the next start, `catch_up`).

Nothing here raises into the ingest: a failure is logged, the hours recorded as failed (tried again with the next
hours), and the ingest goes on. The ingest's hook does not call this on its own thread: service.Judging hands the
hours to a judging thread. Messages are not sent here: new alerts wait as 'pending' for the Sender (sender.py),
which a callback wakes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Connection, Engine, update

from clusterdash.alerts.episodes import advance
from clusterdash.alerts.judge import Holding, bucket_ids, hours_needed, judge
from clusterdash.alerts.rules import Rule, RuleSet, alert_key
from clusterdash.db.alerts import hourly, store
from clusterdash.db.engine import write_transaction
from clusterdash.db.periods import DAY, HOUR
from clusterdash.db.schema import alerts as alerts_table

log = logging.getLogger("clusterdash.alerts")

CATCH_UP = 7 * DAY  # at start, hours stored but never judged (a crash between the two) are judged this far back


@dataclass
class Judged:
    """What one call judged and changed."""

    hours: list[int] = field(default_factory=list)
    opened: int = 0
    updated: int = 0
    resolved: int = 0
    to_send: int = 0  # new alerts waiting for the sender
    seconds: float = 0.0

    def add(self, other: Judged) -> None:
        self.hours += other.hours
        self.opened += other.opened
        self.updated += other.updated
        self.resolved += other.resolved
        self.to_send += other.to_send
        self.seconds += other.seconds


@dataclass(frozen=True)
class Fetched:
    """The rows the rules read for one judgement, fetched once for all of them."""

    buckets: list[hourly.Bucket]
    sessions: hourly.HourRows
    by_buckets: dict[tuple[int, ...], hourly.HourRows]
    logged: np.ndarray  # the hours the log holds over the span
    names: hourly.Directory


def fetch(conn: Connection, rules: Iterable[Rule], targets: Mapping[str, Iterable[int]]) -> Fetched:
    """Everything `rules` read to judge their `targets` (by rule name)."""
    rules = list(rules)
    buckets = hourly.stored_buckets(conn)
    session_ranges: list[tuple[int, int]] = []
    by_buckets: dict[tuple[int, ...], list[tuple[int, int]]] = {}
    for rule in rules:
        ranges = hours_needed(rule, targets[rule.name])
        if rule.measure.sizes is None:
            session_ranges += ranges
        else:
            by_buckets.setdefault(tuple(bucket_ids(rule.measure.sizes, buckets)), []).extend(ranges)
    sessions = hourly.session_rows(conn, session_ranges)
    bucket_rows = {ids: hourly.bucket_rows(conn, ranges, ids) for ids, ranges in by_buckets.items()}
    spans = hourly.merged(session_ranges + [r for ranges in by_buckets.values() for r in ranges])
    logged = hourly.logged_hours(conn, spans[0][0], spans[-1][1]) if spans else hourly.logged_hours(conn, 0, 0)
    every = [sessions, *bucket_rows.values()]
    user_ids = np.unique(np.concatenate([rows.user for rows in every])).tolist()
    machine_ids = np.unique(np.concatenate([rows.machine for rows in every])).tolist()
    return Fetched(buckets, sessions, bucket_rows, logged, hourly.directory(conn, user_ids, machine_ids))


def holdings_of(rule: Rule, fetched: Fetched, targets: Iterable[int], explain: bool = True) -> list[Holding]:
    """Where `rule` holds at `targets`, from what `fetch` read."""
    if rule.measure.sizes is None:
        rows = fetched.sessions
    else:
        rows = fetched.by_buckets[tuple(bucket_ids(rule.measure.sizes, fetched.buckets))]
    return judge(rule, rows, fetched.logged, fetched.names, targets, explain=explain)


class Evaluator:
    """Judges `rules` at the hours the ingest completes, in `engine`'s database. notifying: a channel is set up
    (else new alerts are recorded as 'off'); max_age: a new alert about an hour older than this (seconds, by the
    wall clock) is recorded as 'stale', not sent; on_pending: called when new alerts wait to be sent."""

    def __init__(
        self,
        engine: Engine,
        rules: RuleSet,
        *,
        notifying: bool,
        max_age: int = DAY,
        on_pending: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine, self.rules = engine, rules
        self.notifying, self.max_age = notifying, max_age
        self.on_pending, self.clock = on_pending, clock
        self.total = Judged()  # every call so far, added up
        self.failures = 0
        self._retired = False  # the open alerts of rules no longer judged: resolved at the first judgement

    # -- the hook ---------------------------------------------------------------------------------------------------

    def hours_completed(self, hours: Iterable[int]) -> Judged | None:
        """The ingest's after-commit hook: judge these hours (and any whose judgement failed before). Never raises:
        a failure is logged and recorded, and the ingest goes on."""
        wanted = sorted(set(hours))
        try:
            with self.engine.connect() as conn:
                wanted = sorted(set(wanted) | set(store.failed_hours(conn)))
            judged = self.judge(wanted)
        except Exception as exc:
            log.exception("alerts: judging %d hour(s) failed; they are tried again with the next hours", len(wanted))
            self._record_failure(wanted, exc)
            self.failures += 1
            return None
        self.total.add(judged)
        if judged.to_send and self.on_pending is not None:
            self.on_pending()
        return judged

    def catch_up(self) -> Judged | None:
        """At start: judge the hours stored complete since the last hour judged that never were (a crash between
        the ingest's commit and the judgement), up to CATCH_UP back. The newest stored hour is left to the ingest,
        which knows whether it is complete. Nothing when no hour was ever judged (alerts newly set up: they
        start with the hours that arrive from now on)."""
        try:
            with self.engine.connect() as conn:
                last, newest = store.last_judged_hour(conn), hourly.latest_hour(conn)
                if last is None or newest is None or newest <= last + HOUR:
                    return None
                lo = max(last + HOUR, newest - CATCH_UP)
                missing = [int(h) for h in hourly.logged_hours(conn, lo, newest)]
        except Exception:
            log.exception("alerts: cannot look for hours left unjudged")
            return None
        if missing:
            log.info("alerts: judging %d hour(s) stored while no judgement ran", len(missing))
        return self.hours_completed(missing) if missing else None

    # -- judging ----------------------------------------------------------------------------------------------------

    def judge(self, hours: Iterable[int]) -> Judged:
        """Judge the hours (those the log holds and that changed since they were last judged) for every enabled
        rule, and update the alerts. The rows are read and judged first, then the alerts are updated and the hours
        recorded in one write transaction (so the writer lock is held for milliseconds, not for the judgement),
        leaving out the hours another process recorded meanwhile with the same contents. Raises on failure
        (hours_completed catches)."""
        started = time.perf_counter()
        result = Judged()
        now = int(self.clock())
        rules = self.rules.enabled()
        with self.engine.connect() as conn:
            contents = hourly.hour_contents(conn, hours)
            before = store.judged_contents(conn, contents)
            fresh = {hour: held for hour, held in contents.items() if before.get(hour) != held}
            if not fresh:
                return result
            targets = self._targets(conn, rules, fresh)
            fetched = fetch(conn, rules, targets)
        holdings = {rule.name: holdings_of(rule, fetched, targets[rule.name]) for rule in rules}
        with write_transaction(self.engine) as conn:
            done = {h for h, held in store.judged_contents(conn, fresh).items() if fresh[h] == held}
            fresh = {hour: held for hour, held in fresh.items() if hour not in done}
            if not fresh:
                return result  # another process judged them while this one did
            current = {a.key: a for a in store.open_alerts(conn, [r.name for r in rules])}
            changed: list[store.StoredAlert] = []
            for rule in rules:
                hours_now = [h for h in targets[rule.name] if h not in done]
                found = [h for h in holdings[rule.name] if h.hour not in done]
                current.update(store.latest_alerts(conn, {alert_key(rule, h.subject) for h in found} - set(current)))
                stored = {a.id: a for a in current.values() if a.id is not None}
                for after in advance(rule, hours_now, found, current, now, self._notify_for(now)):
                    changed.append(after)
                    _count(result, stored.get(after.id) if after.id is not None else None, after)
            saved = store.save_alerts(conn, changed)
            if not self._retired:
                self._retire(conn, rules, min(fresh), now)
            store.mark_judged(conn, fresh, now)
        self._retired = True
        result.hours = sorted(fresh)
        result.to_send = sum(1 for a in saved if a.notify == "pending")
        result.seconds = time.perf_counter() - started
        log.debug(
            "alerts: judged %d hour(s) in %.1f ms: %d opened, %d updated, %d resolved",
            len(result.hours),
            1000 * result.seconds,
            result.opened,
            result.updated,
            result.resolved,
        )
        return result

    def _targets(self, conn: Connection, rules: Iterable[Rule], fresh: Mapping[int, object]) -> dict[str, list[int]]:
        """Per rule, the hours to judge: the fresh ones, and the later hours already judged whose window holds a
        fresh one (a block completed late changes the windows it is in)."""
        rules = list(rules)
        longest = max((rule.window.hours for rule in rules), default=1)
        later = {h + k * HOUR for h in fresh for k in range(1, longest)} - set(fresh)
        judged_later = set(store.judged_contents(conn, later)) if later else set()
        targets = {}
        for rule in rules:
            w = rule.window.hours
            extra = {h for h in judged_later if any(h - k * HOUR in fresh for k in range(1, w))}
            targets[rule.name] = sorted(set(fresh) | extra)
        return targets

    def _notify_for(self, now: int) -> Callable[[int], str]:
        def notify(hour: int) -> str:
            if not self.notifying:
                return "off"
            return "stale" if hour + HOUR < now - self.max_age else "pending"

        return notify

    def _retire(self, conn: Connection, rules: Iterable[Rule], hour: int, now: int) -> None:
        """Open alerts of rules no longer judged (removed from the file, or disabled) resolve: nothing will."""
        names = [rule.name for rule in rules]
        a = alerts_table.c
        conn.execute(
            update(alerts_table)
            .where(a.state == "open", a.rule.not_in(names), a.last_hour < hour)
            .values(state="resolved", resolved_hour=hour, updated_at=now)
        )

    def _record_failure(self, hours: list[int], exc: Exception) -> None:
        """Record the hours as failed (with why), so the next call tries them again. Best effort: the database may
        be what failed."""
        try:
            with write_transaction(self.engine) as conn:
                contents = hourly.hour_contents(conn, hours)
                reason = f"{type(exc).__name__}: {exc}"[:500]
                store.mark_judged(conn, contents, int(self.clock()), error=reason)
        except Exception:
            log.warning("alerts: cannot record the failed judgement either", exc_info=True)


def _count(result: Judged, before: store.StoredAlert | None, after: store.StoredAlert) -> None:
    """before: the stored alert `after` changes (None: `after` is new, perhaps resolved already)."""
    resolved = after.state == "resolved" and (before is None or before.state == "open")
    if before is None:
        result.opened += 1
    elif not resolved:
        result.updated += 1
    result.resolved += resolved
