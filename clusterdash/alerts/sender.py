"""Sending what the evaluation opened, off the ingest's thread.

The queue is the database: a new alert waits there as 'pending'. A Sender's thread, woken by the evaluation (and
every POLL seconds, for alerts another process left), claims the pending alerts (db/alerts/store.claim_pending:
each alert goes to one sender only, whatever number of processes run), sends them through the Notifier and records
every delivery. A mail server that is down costs the thread its retries (notify.py bounds them), never the ingest
its pace; the wake-up is one flag, so the ingest never waits on the sender either. In digest mode the thread waits
until the oldest pending alert has waited `digest` seconds, then sends everything pending as one message per
recipient.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence

from sqlalchemy import Engine

from clusterdash.alerts.messages import Alert
from clusterdash.alerts.notify import Delivery, Notifier
from clusterdash.alerts.rules import RuleSet, Subject
from clusterdash.db.alerts import store
from clusterdash.db.alerts.store import DeliveryRow, StoredAlert

log = logging.getLogger("clusterdash.alerts")

POLL = 60.0  # seconds between looks for alerts left pending by another process
ViewLink = Callable[[StoredAlert], tuple[tuple[str, ...], str]]  # (path segments, query string) of its view


def message_alert(stored: StoredAlert, rules: RuleSet, link: ViewLink | None = None) -> Alert | None:
    """The Alert a message tells of, from its stored state; None when its rule is no longer in the rule file."""
    rule = rules.get(stored.rule)
    if rule is None or rule.subject != stored.subject_kind:
        return None
    subject = Subject(
        stored.subject_kind,
        user=stored.username,
        machine=stored.machine,
        machine_type=stored.machine_type,
        role=stored.role,
    )
    path, query = link(stored) if link is not None else ((), "")
    return Alert(
        rule=rule,
        subject=subject,
        value=stored.value,
        hour=stored.last_hour,
        since=stored.since,
        baseline=stored.baseline,
        users=stored.users,
        machines=stored.machines,
        path=path,
        query=query,
    )


class Sender:
    """Sends pending alerts through `notifier` from a thread of its own (start, wake, stop), or once (send_due)."""

    def __init__(
        self,
        engine: Engine,
        notifier: Notifier,
        rules: RuleSet,
        *,
        digest: int = 0,
        link: ViewLink | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.engine, self.notifier, self.rules = engine, notifier, rules
        self.digest, self.link = digest, link
        self.clock, self.sleep = clock, sleep
        self.name = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None

    # -- the thread ---------------------------------------------------------------------------------------------------

    def start(self) -> Sender:
        self._thread = threading.Thread(target=self._run, name="clusterdash-alerts-sender", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        """New alerts are pending (called by the evaluation, on the ingest's thread: returns at once)."""
        self._wake.set()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop after the round in hand (a round's sending is bounded by the channels' timeouts and retries)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                due = self._seconds_until_due()
                if due is not None and due <= 0:
                    self.send_due()
                    continue
            except Exception:  # never let the thread die: log, wait, try again
                log.exception("alerts: sending failed; trying again in %gs", POLL)
                due = POLL
            self._wake.wait(POLL if due is None else min(POLL, due))
            self._wake.clear()

    def _seconds_until_due(self) -> float | None:
        """Seconds until the pending alerts are due (<= 0: now), None when none is pending."""
        with self.engine.connect() as conn:
            oldest = store.oldest_pending(conn)
        if oldest is None:
            return None
        return oldest + self.digest - self.clock()

    # -- one round ----------------------------------------------------------------------------------------------------

    def send_due(self) -> list[Delivery]:
        """Claim the pending alerts (in digest mode only once the oldest has waited `digest` seconds), send them and
        record how it went. Returns the deliveries."""
        if self.digest:
            due = self._seconds_until_due()
            if due is None or due > 0:
                return []
        with self.engine.begin() as conn:
            claimed = store.claim_pending(conn, self.name, int(self.clock()))
        if not claimed:
            return []
        return self._send(claimed)

    def _send(self, claimed: Sequence[StoredAlert]) -> list[Delivery]:
        messages: list[Alert] = []
        unsendable: list[DeliveryRow] = []
        now = int(self.clock())
        for stored in claimed:
            alert = message_alert(stored, self.rules, self.link)
            if alert is None:
                why = f"rule {stored.rule!r} is no longer in the rule file"
                unsendable.append(DeliveryRow(stored.id or 0, "-", "-", False, 0, why, False, now))
            else:
                messages.append(alert)
        deliveries = self.notifier.send(messages, digest=bool(self.digest), sleep=self.sleep, clock=self.clock)
        by_key: dict[str, list[StoredAlert]] = {}
        for stored in claimed:
            by_key.setdefault(stored.key, []).append(stored)
        rows = list(unsendable)
        for delivery in deliveries:
            for key in delivery.alerts:
                for stored in by_key.get(key, []):
                    rows.append(
                        DeliveryRow(
                            stored.id or 0,
                            delivery.channel,
                            delivery.recipient,
                            delivery.ok,
                            delivery.attempts,
                            delivery.reason,
                            bool(self.digest),
                            int(delivery.at),
                        )
                    )
        outcome = {}
        for stored in claimed:
            mine = [row for row in rows if row.alert_id == stored.id]
            outcome[stored.id or 0] = "off" if not mine else "sent" if all(r.ok for r in mine) else "failed"
        with self.engine.begin() as conn:
            store.record_deliveries(conn, rows, outcome, int(self.clock()))
        sent = sum(1 for status in outcome.values() if status == "sent")
        log.info("alerts: sent %d of %d alert(s) in %d message(s)", sent, len(claimed), len(deliveries))
        return deliveries
