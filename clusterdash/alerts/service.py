"""Alerts wired into an entry point (`ingest`, `serve`, gunicorn's app): the rule file and the channels read from the
settings and checked at start, before anything is ingested; the evaluator behind the ingest's after-commit hook, on
a judging thread of its own; the sender's thread. The CLI and web/serve.py are the only places that connect alerts to
the ingest.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from clusterdash.alerts.evaluate import Evaluator
from clusterdash.alerts.notify import Notifier
from clusterdash.alerts.rulefile import load_rules
from clusterdash.alerts.rules import RuleSet
from clusterdash.alerts.sender import Sender, ViewLink
from clusterdash.alerts.settings import Pacing, notifier_from_settings, pacing_from_settings
from clusterdash.db.alerts.store import StoredAlert
from clusterdash.db.periods import HOUR

log = logging.getLogger("clusterdash.alerts")

# The rules `serve --demo` uses when no rule file is given: tuned to fire a few times on the demo's month.
DEMO_RULES = Path(__file__).resolve().parent / "demo-rules.toml"


@dataclass(frozen=True)
class AlertSetup:
    """What the settings say about alerts, checked: the rules, the channels and the pacing."""

    rules: RuleSet
    notifier: Notifier
    pacing: Pacing

    @property
    def notifying(self) -> bool:
        return self.notifier.email is not None or self.notifier.webhook is not None


def setup_from_settings(values: Mapping[str, Any], default_rules: Path | None = None) -> AlertSetup | None:
    """The alert setup the settings (config.from_environment's values) describe, or None when no rule file is set
    (and no default given). Raises a UserError naming the rule and field, or the setting, that cannot be used: call
    it before any ingest."""
    path = str(values.get("alerts") or "").strip() or (str(default_rules) if default_rules else "")
    if not path:
        return None
    rules = load_rules(Path(path).expanduser())
    return AlertSetup(rules, notifier_from_settings(values), pacing_from_settings(values))


def subject_names(alert: StoredAlert) -> dict[str, str]:
    """The names of an alert's subject by field (user, machine, machine_type, role); none for the server."""
    names = {"user": alert.username, "machine": alert.machine, "machine_type": alert.machine_type, "role": alert.role}
    return {field: name for field, name in names.items() if name is not None}


AlertView = Callable[[Mapping[str, str], int, int, str], tuple[tuple[str, ...], str]]


def link_with(view: AlertView, rules: RuleSet) -> ViewLink:
    """A ViewLink from the dashboard's function for an alert's view (web.state.alert_view with its defaults bound):
    the subject, from the window's first hour to the end of the latest, in the rule's direction."""

    def link(alert: StoredAlert) -> tuple[tuple[str, ...], str]:
        rule = rules.get(alert.rule)
        direction = rule.measure.direction if rule is not None else "both"
        return view(subject_names(alert), alert.since, alert.last_hour + HOUR, direction)

    return link


class Judging:
    """Judges the hours the ingest reports on a thread of its own: the ingest's thread only notes them (a set of
    hours, at most one per hour of log), so its pace does not depend on the rules. Hours reported while a judgement
    runs are judged together next."""

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self._hours: set[int] = set()
        self._lock = threading.Condition()
        self._busy = False
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="clusterdash-alerts-judge", daemon=True)
        self._thread.start()

    def add(self, hours: list[int]) -> None:
        with self._lock:
            self._hours.update(hours)
            self._lock.notify_all()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._hours and not self._stopping:
                    self._lock.wait()
                if not self._hours:
                    return
                hours, self._hours, self._busy = sorted(self._hours), set(), True
            self.evaluator.hours_completed(hours)  # never raises
            with self._lock:
                self._busy = False
                self._lock.notify_all()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every hour reported has been judged; False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._hours and not self._busy, timeout)

    def stop(self, timeout: float | None = None) -> None:
        """Judge what is noted, then end the thread."""
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        self._thread.join(timeout)


class Alerting:
    """The evaluator and the sender of one process. `after_commit` is the ingest's hook (load.AfterCommit): once
    started, it hands the hours to a judging thread (Judging); before, it judges them on the caller's thread."""

    def __init__(
        self,
        engine: Engine,
        setup: AlertSetup,
        view: AlertView | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """view: the dashboard's function for an alert's view (web.state.alert_view_in), for the messages' links."""
        self.setup = setup
        link = link_with(view, setup.rules) if view is not None else None
        self.sender = (
            Sender(engine, setup.notifier, setup.rules, digest=setup.pacing.digest, link=link, clock=clock)
            if setup.notifying
            else None
        )
        self.evaluator = Evaluator(
            engine,
            setup.rules,
            notifying=setup.notifying,
            max_age=setup.pacing.max_age,
            on_pending=self.sender.wake if self.sender is not None else None,
            clock=clock,
        )
        self.judging: Judging | None = None

    def start(self) -> Alerting:
        """Judge what a crash left unjudged, and start judging and sending on threads of their own."""
        if self.sender is not None:
            self.sender.start()
        self.evaluator.catch_up()
        self.judging = Judging(self.evaluator)
        return self

    def after_commit(self, hours: list[int]) -> None:
        if self.judging is not None:
            self.judging.add(hours)
        else:
            self.evaluator.hours_completed(hours)

    def close(self) -> None:
        """Judge what the ingest reported, stop the threads, then send what is due (a one-shot ingest's alerts go
        out before it exits; in digest mode only once their digest is due: the rest waits for the next run)."""
        if self.judging is not None:
            self.judging.stop()
        if self.sender is None:
            return
        self.sender.stop()
        try:
            self.sender.send_due()
        except Exception:
            log.exception("alerts: sending at exit failed")
