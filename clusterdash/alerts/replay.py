"""`clusterdash alerts check --dry-run`: the rules replayed over stored hours, hour by hour, as the evaluation would
have judged them as they arrived, cooldowns included; nothing is stored or sent. The way to tune a threshold
before turning mail on.

It reads the rows of the whole range at once (evaluate.fetch) and judges every hour the log holds in it, then
runs the alerts' course (episodes.advance) in memory from a blank state.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import Engine

from clusterdash.alerts.episodes import advance
from clusterdash.alerts.evaluate import fetch, holdings_of
from clusterdash.alerts.rules import RuleSet
from clusterdash.db.alerts import hourly
from clusterdash.db.alerts.store import StoredAlert


@dataclass
class Replay:
    """What the rules would have done over [first_hour, end_hour)."""

    first_hour: int
    end_hour: int
    hours: int = 0  # hours the log holds in the range, each judged by every enabled rule
    alerts: list[StoredAlert] = field(default_factory=list)  # every alert that would have opened, in order
    seconds: float = 0.0

    def by_rule(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for alert in self.alerts:
            counts[alert.rule] = counts.get(alert.rule, 0) + 1
        return counts


def replay(engine: Engine, rules: RuleSet, first_hour: int, end_hour: int, explain: bool = False) -> Replay:
    """Replay the enabled `rules` over the hours the log holds in [first_hour, end_hour). explain: name the users
    and machines of each alert (slower: each holding looks at its rows)."""
    started = time.perf_counter()
    result = Replay(first_hour, end_hour)
    enabled = rules.enabled()
    with engine.connect() as conn:
        hours = [int(h) for h in hourly.logged_hours(conn, first_hour, end_hour)]
        if not hours or not enabled:
            return result
        targets = {rule.name: hours for rule in enabled}
        fetched = fetch(conn, enabled, targets)
    history: list[StoredAlert] = []
    for rule in enabled:
        holdings = holdings_of(rule, fetched, hours, explain=explain)
        history += advance(rule, hours, holdings, {}, 0, lambda _hour: "quiet")
    result.hours = len(hours)
    result.alerts = sorted(history, key=lambda a: (a.first_hour, a.rule, a.key))
    result.seconds = time.perf_counter() - started
    return result
