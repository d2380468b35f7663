"""How an alert goes, hour by hour: it opens when its rule first holds for its subject, updates while the rule holds,
resolves at the first hour judged in which it no longer holds, and during its cooldown after that (counted in hours
of the log, so a replay and a restart agree) it does not fire again: should the rule hold again within the cooldown,
the same alert opens again, without a new message. After the cooldown a new alert opens.

Pure functions over db.alerts.store.StoredAlert values: the evaluation applies them to the alerts in the database,
`alerts check --dry-run` to alerts it keeps in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from clusterdash.alerts.judge import Holding
from clusterdash.alerts.rules import Rule, alert_key
from clusterdash.db.alerts.store import StoredAlert


def _figures(holding: Holding) -> dict[str, Any]:
    """What an alert shows of the latest hour it held: the measure, what it had to pass, the baseline, who and where."""
    return dict(
        value=holding.value,
        threshold=holding.limit,
        baseline=holding.baseline,
        users=holding.users,
        machines=holding.machines,
    )


def opened(rule: Rule, holding: Holding, now: int, notify: str) -> StoredAlert:
    """A new alert: `rule` holds for `holding.subject` at `holding.hour`."""
    subject = holding.subject
    return StoredAlert(
        key=alert_key(rule, subject),
        rule=rule.name,
        severity=rule.severity,
        subject_kind=subject.kind,
        username=subject.user,
        machine=subject.machine,
        machine_type=subject.machine_type,
        role=subject.role,
        state="open",
        since=holding.since,
        first_hour=holding.hour,
        last_hour=holding.hour,
        peak=holding.value,
        notify=notify,
        opened_at=now,
        updated_at=now,
        **_figures(holding),
    )


def step(
    current: StoredAlert | None, rule: Rule, hour: int, holding: Holding | None, now: int, notify: str
) -> StoredAlert | None:
    """The alert after judging `hour` (holding: the rule holds there, with these figures; None: it does not), or
    None when nothing changes. `current`: the latest alert of this rule and subject, if any; `notify`: what a new
    alert's message starts as ('pending', or 'stale', 'off', 'quiet')."""
    if holding is None:
        if current is not None and current.state == "open" and hour > current.last_hour:
            return current.changed(state="resolved", resolved_hour=hour, updated_at=now)
        return None
    if current is None:
        return opened(rule, holding, now, notify)
    resolved = current.resolved_hour
    if current.state == "resolved" and resolved is not None and hour >= resolved + rule.cooldown:
        return opened(rule, holding, now, notify)
    # The same alert: it holds on, an hour read late falls inside it, or it holds again within its cooldown.
    latest = hour >= current.last_hour
    figures = _figures(holding) if latest else {}
    again = current.state == "resolved" and resolved is not None and hour >= resolved
    return current.changed(
        state="open" if again else current.state,
        resolved_hour=None if again else resolved,
        last_hour=max(current.last_hour, hour),
        first_hour=min(current.first_hour, hour),
        since=min(current.since, holding.since),
        peak=max(current.peak, holding.value),
        updated_at=now,
        **figures,
    )


def advance(
    rule: Rule,
    hours: Iterable[int],
    holdings: Iterable[Holding],
    alerts: MutableMapping[str, StoredAlert],
    now: int,
    notify: Callable[[int], str],
) -> list[StoredAlert]:
    """Judge `hours` in order for one rule: `holdings` say where it holds; `alerts` holds the latest alert of each
    key concerned (every open one of the rule among them) and is brought up to date. notify(hour): what a new
    alert about that hour starts as. Returns every alert that changed, in its latest state, in the order it first
    changed: an alert that resolved and, after its cooldown, a new one of the same key are both there (a replay from
    an empty `alerts` gets every alert that would have opened)."""
    by_hour: dict[int, dict[str, Holding]] = {}
    for holding in holdings:
        by_hour.setdefault(holding.hour, {})[alert_key(rule, holding.subject)] = holding
    changed: list[StoredAlert] = []
    place: dict[str, int] = {}  # where each key's latest alert is in `changed`
    open_keys = {key for key, alert in alerts.items() if alert.state == "open" and alert.rule == rule.name}
    for hour in sorted(set(hours)):
        holding_now = by_hour.get(hour, {})
        if not holding_now and not open_keys:
            continue
        for key in sorted(set(holding_now) | open_keys):
            before = alerts.get(key)
            after = step(before, rule, hour, holding_now.get(key), now, notify(hour))
            if after is None:
                continue
            alerts[key] = after
            (open_keys.add if after.state == "open" else open_keys.discard)(key)
            if key in place and before is not None and after.first_hour <= before.first_hour:
                changed[place[key]] = after  # the same alert again (a new one has a later first hour)
            else:
                place[key] = len(changed)
                changed.append(after)
    return changed
