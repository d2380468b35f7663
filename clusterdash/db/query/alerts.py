"""The questions asked about alerts (the API's /api/alerts, the dashboard's alerts panel, page and chart markers,
`clusterdash alerts list`): a `Filters` value in, plain data out.

An alert matches the filters when its hours (from the first hour of the window in which it fired to the latest hour
it held) overlap the range, and its subject is among the users, machines, machine types and roles the filters name
(a filter on a field the subject does not have leaves the alert out: an alert about a machine is no user's).
Direction, size and affiliation filters do not apply: an alert's rule says what it measured.

A signed-in user sees only the alerts about themselves: `access_scope` is the one place that says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Select, select

from clusterdash.db.alerts.store import deliveries_of
from clusterdash.db.filters import Filters
from clusterdash.db.periods import HOUR
from clusterdash.db.schema import alerts
from clusterdash.db.timefmt import iso_utc
from clusterdash.db.vocabulary import PARAMETERS
from clusterdash.errors import BadParameter

STATES = PARAMETERS["state"].choices  # the states a question may ask for, declared with the parameter
SEVERITIES = ("info", "warning", "critical")
MAX_ALERTS = 1000
SUBJECT_FILTERS = (("users", "username"), ("machines", "machine"), ("machine_types", "machine_type"), ("roles", "role"))


def access_scope(query: Select, filters: Filters) -> Select:
    """Only the alerts the asker may see: with an access scope (Filters.visible_users, the usernames a signed-in
    user may see; None: everything), only alerts whose subject is one of those users. The one function that applies
    it to alerts."""
    if filters.visible_users is None:
        return query
    return query.where(alerts.c.username.in_(filters.visible_users))


def alert_list(
    conn: Connection,
    filters: Filters,
    state: str = "all",
    rules: Iterable[str] = (),
    severities: Iterable[str] = (),
    limit: int = 200,
    deliveries: bool = False,
) -> list[dict[str, Any]]:
    """The alerts that match, open ones first, then the latest first. deliveries: each with its messages."""
    if state not in STATES:
        raise BadParameter("state", f"must be one of {', '.join(STATES)}, not {str(state)[:20]!r}")
    severities = tuple(severities)
    for severity in severities:
        if severity not in SEVERITIES:
            raise BadParameter("severity", f"must be one of {', '.join(SEVERITIES)}, not {severity[:20]!r}")
    if not 0 <= limit <= MAX_ALERTS:
        raise BadParameter("limit", f"must be between 0 and {MAX_ALERTS}")
    a = alerts.c
    query = _about(select(alerts), filters, a.last_hour, a.since)
    if state != "all":
        query = query.where(a.state == state)
    if tuple(rules):
        query = query.where(a.rule.in_(tuple(rules)))
    if severities:
        query = query.where(a.severity.in_(severities))
    query = query.order_by((a.state == "open").desc(), a.last_hour.desc(), a.id.desc()).limit(limit)
    rows = [_data(row) for row in conn.execute(query)]
    if deliveries and rows:
        sent = deliveries_of(conn, [row["id"] for row in rows])
        for row in rows:
            row["deliveries"] = [{**d, "at": iso_utc(d["at"])} for d in sent[row["id"]]]
    return rows


def alert_marks(conn: Connection, filters: Filters, limit: int = 500) -> list[dict[str, Any]]:
    """The hours alerts fired in the range (each alert's first hour), for a marker on a time chart: hour, rule,
    severity and subject, oldest first."""
    a = alerts.c
    query = select(a.first_hour, a.rule, a.severity, a.subject_kind, a.username, a.machine, a.machine_type, a.role)
    query = _about(query, filters, a.first_hour, a.first_hour).order_by(a.first_hour, a.id).limit(limit)
    return [
        {
            "hour": row.first_hour,
            "rule": row.rule,
            "severity": row.severity,
            "subject": _subject(row.subject_kind, row.username, row.machine, row.machine_type, row.role),
        }
        for row in conn.execute(query)
    ]


def _about(query: Select, filters: Filters, last: Any, first: Any) -> Select:
    """The alerts whose hours [first, last] overlap the filters' range and whose subject they name, in the asker's
    access scope."""
    start, end = filters.hour_range()
    if start is not None:
        query = query.where(last >= start)
    if end is not None:
        query = query.where(first < end)
    for field, column in SUBJECT_FILTERS:
        wanted = getattr(filters, field)
        if wanted:
            query = query.where(alerts.c[column].in_(wanted))
    return access_scope(query, filters)


def _subject(kind: str, user: str | None, machine: str | None, machine_type: str | None, role: str | None) -> dict:
    names = {"user": user, "machine": machine, "machine_type": machine_type, "role": role}
    return {"kind": kind, **{name: value for name, value in names.items() if value is not None}}


def _data(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "key": row.key,
        "rule": row.rule,
        "severity": row.severity,
        "state": row.state,
        "subject": _subject(row.subject_kind, row.username, row.machine, row.machine_type, row.role),
        "since": iso_utc(row.since),
        "first_hour": iso_utc(row.first_hour),
        "last_hour": iso_utc(row.last_hour),
        "until": iso_utc(row.last_hour + HOUR),
        "resolved": iso_utc(row.resolved_hour),
        "since_epoch": row.since,
        "first_hour_epoch": row.first_hour,
        "last_hour_epoch": row.last_hour,
        "value": row.value,
        "peak": row.peak,
        "threshold": row.threshold,
        "baseline": row.baseline,
        "users": json.loads(row.users or "[]"),
        "machines": json.loads(row.machines or "[]"),
        "notify": row.notify,
        "notified_at": iso_utc(row.notified_at),
        "opened_at": iso_utc(row.opened_at),
    }
