"""Alert state in the database: the alerts (Alerts) as `StoredAlert` values, the hours judged (AlertHours), claiming
what is to be sent and recording how each message went (AlertDeliveries).

The evaluation reads and writes alerts inside one write transaction (db.engine.write_transaction: the single writer
lock on both backends), so two processes judging the same hour see each other's alerts. Claiming is a statement of
its own that needs no lock: `UPDATE ... SET notify = 'sending' WHERE notify = 'pending' ... RETURNING`. Two senders
that run it at once (two followers on one PostgreSQL database) each get the rows the other did not: PostgreSQL
re-checks the WHERE of a row another transaction has just changed, SQLite runs one writer at a time. What is claimed
is sent at most once: a sender that dies after claiming leaves its rows 'sending' (shown as such), never sent twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from clusterdash.db.bulk import in_chunks
from clusterdash.db.schema import alert_deliveries, alert_hours, alerts


@dataclass(frozen=True)
class StoredAlert:
    """One row of Alerts (see db/schema/alerts.py for what each field means). id None: not stored yet."""

    key: str
    rule: str
    severity: str
    subject_kind: str
    state: str
    since: int
    first_hour: int
    last_hour: int
    value: float
    peak: float
    threshold: float
    username: str | None = None
    machine: str | None = None
    machine_type: str | None = None
    role: str | None = None
    resolved_hour: int | None = None
    baseline: float | None = None
    users: tuple[str, ...] = ()
    machines: tuple[str, ...] = ()
    notify: str = "pending"
    notified_at: int | None = None
    notified_by: str | None = None
    opened_at: int = 0
    updated_at: int = 0
    id: int | None = field(default=None, compare=False)

    def changed(self, **changes: Any) -> StoredAlert:
        return replace(self, **changes)

    def row(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("id")
        data["users"], data["machines"] = json.dumps(list(self.users)), json.dumps(list(self.machines))
        return data


def as_stored_alert(row: Any) -> StoredAlert:
    """A row of Alerts as a StoredAlert."""
    data = dict(row._mapping)
    data["users"] = tuple(json.loads(data["users"] or "[]"))
    data["machines"] = tuple(json.loads(data["machines"] or "[]"))
    return StoredAlert(**data)


# -- the evaluation's reads and writes (inside its write transaction) ----------------------------------------------


def latest_alerts(conn: Connection, keys: Iterable[str]) -> dict[str, StoredAlert]:
    """The most recent alert of each key that has one (by the hour it fired)."""
    wanted = sorted(set(keys))
    found: dict[str, StoredAlert] = {}
    for chunk in in_chunks(wanted):
        rows = conn.execute(select(alerts).where(alerts.c.key.in_(chunk)).order_by(alerts.c.first_hour, alerts.c.id))
        for row in rows:
            found[row.key] = as_stored_alert(row)  # ordered: the last one wins
    return found


def open_alerts(conn: Connection, rules: Iterable[str]) -> list[StoredAlert]:
    """Every open alert of these rules."""
    query = select(alerts).where(alerts.c.state == "open", alerts.c.rule.in_(sorted(set(rules))))
    return [as_stored_alert(row) for row in conn.execute(query.order_by(alerts.c.id))]


def save_alerts(conn: Connection, changed: Sequence[StoredAlert]) -> list[StoredAlert]:
    """Insert the new alerts (id None) and update the others; returns them all with their ids. Updates go first:
    an alert that resolves frees its key for a new one (one open alert per key)."""
    saved: list[StoredAlert] = []
    for alert in sorted(changed, key=lambda a: a.id is None):
        if alert.id is None:
            new_id = conn.execute(insert(alerts).values(**alert.row()).returning(alerts.c.id)).scalar_one()
            saved.append(replace(alert, id=new_id))
        else:
            conn.execute(update(alerts).where(alerts.c.id == alert.id).values(**alert.row()))
            saved.append(alert)
    return saved


def judged_contents(conn: Connection, hours: Iterable[int]) -> dict[int, tuple[int, int]]:
    """(sessions, operations) each of `hours` held when it was last judged successfully."""
    wanted = sorted(set(hours))
    h = alert_hours.c
    found: dict[int, tuple[int, int]] = {}
    for chunk in in_chunks(wanted):
        query = select(h.hour, h.sessions, h.operations).where(h.hour.in_(chunk), h.error.is_(None))
        found.update({hour: (sessions, operations) for hour, sessions, operations in conn.execute(query)})
    return found


def mark_judged(conn: Connection, contents: Mapping[int, tuple[int, int]], now: int, error: str | None = None) -> None:
    """Record the hours as judged with these contents (or as failed, with `error`)."""
    if not contents:
        return
    hours = sorted(contents)
    for chunk in in_chunks(hours):
        conn.execute(delete(alert_hours).where(alert_hours.c.hour.in_(chunk)))
    rows = [
        {"hour": hour, "sessions": s, "operations": o, "judged_at": now, "error": error}
        for hour, (s, o) in sorted(contents.items())
    ]
    conn.execute(insert(alert_hours), rows)


def last_judged_hour(conn: Connection) -> int | None:
    """The newest hour judged successfully, or None when no hour ever was (alerts newly set up)."""
    return conn.execute(select(func.max(alert_hours.c.hour)).where(alert_hours.c.error.is_(None))).scalar()


def failed_hours(conn: Connection) -> list[int]:
    """The hours whose last judgement failed."""
    return list(conn.execute(select(alert_hours.c.hour).where(alert_hours.c.error.is_not(None))).scalars())


# -- sending ---------------------------------------------------------------------------------------------------------


def oldest_pending(conn: Connection) -> int | None:
    """When the oldest alert waiting to be sent opened (wall clock), or None."""
    return conn.execute(select(func.min(alerts.c.opened_at)).where(alerts.c.notify == "pending")).scalar()


def claim_pending(conn: Connection, sender: str, now: int, limit: int = 1000) -> list[StoredAlert]:
    """Take the alerts waiting to be sent (at most `limit`, oldest first) for `sender`: they become 'sending',
    claimed by it. One statement (its first in the transaction, so SQLite takes the write lock at once rather than
    upgrading a read), committed before anything is sent."""
    waiting = select(alerts.c.id).where(alerts.c.notify == "pending").order_by(alerts.c.id).limit(limit)
    claimed = conn.execute(
        update(alerts)
        .where(alerts.c.id.in_(waiting.scalar_subquery()), alerts.c.notify == "pending")
        .values(notify="sending", notified_at=now, notified_by=sender[:64])
        .returning(*alerts.c)
    ).all()
    return sorted((as_stored_alert(row) for row in claimed), key=lambda a: a.id or 0)


@dataclass(frozen=True)
class DeliveryRow:
    alert_id: int
    channel: str
    recipient: str
    ok: bool
    attempts: int
    reason: str
    digest: bool
    at: int


def record_deliveries(conn: Connection, rows: Sequence[DeliveryRow], outcome: Mapping[int, str], now: int) -> None:
    """Store how each message went, and each claimed alert's outcome ('sent' or 'failed')."""
    if rows:
        conn.execute(insert(alert_deliveries), [asdict(row) for row in rows])
    for status in set(outcome.values()):
        ids = [alert_id for alert_id, s in outcome.items() if s == status]
        conn.execute(
            update(alerts)
            .where(alerts.c.id.in_(ids), alerts.c.notify == "sending")
            .values(notify=status, updated_at=now)
        )


def deliveries_of(conn: Connection, alert_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """Each alert's deliveries, oldest first, as plain data."""
    wanted = sorted(set(alert_ids))
    d = alert_deliveries.c
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in wanted}
    for chunk in in_chunks(wanted):
        query = select(alert_deliveries).where(d.alert_id.in_(chunk)).order_by(d.id)
        for row in conn.execute(query):
            found[row.alert_id].append({k: v for k, v in row._mapping.items() if k not in ("id", "alert_id")})
    return found
