"""The alerts' tables: each alert and how it went (Alerts), each message sent about it (AlertDeliveries), and which
hours have been judged, with what they held then (AlertHours). db/alerts/ reads and writes them; clusterdash/alerts/
decides what goes in."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from clusterdash.db.schema.base import metadata

ALERT_STATES = ("open", "resolved")
# What happened to the message about an alert: 'pending' (a sender may claim it), 'sending' (claimed, being sent),
# 'sent', 'failed' (tried: see its AlertDeliveries), 'stale' (about an hour older than alerts_max_age when it
# opened: kept, not sent), 'off' (no channel was set up when it opened), 'quiet' (opened again within its cooldown,
# or judged by a replay: nothing to send).
NOTIFY_STATES = ("pending", "sending", "sent", "failed", "stale", "off", "quiet")

# One row per alert: a rule holding for one subject, from the hour it fired until the first hour it no longer held
# (then 'resolved'). It opens again, as the same row, when the rule holds again within its cooldown; after that a
# new row. Hours are starts of hours (UTC epochs), as everywhere.
alerts = Table(
    "Alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", Text, nullable=False),  # rules.alert_key: 'rule-name/user=alice'
    Column("rule", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("subject_kind", String(16), nullable=False),
    Column("username", String(255)),  # the subject's names (those its kind has)
    Column("machine", String(255)),
    Column("machine_type", String(255)),
    Column("role", String(255)),
    Column("state", String(8), nullable=False),
    Column("since", BigInteger, nullable=False),  # the first hour of the window in which it fired
    Column("first_hour", BigInteger, nullable=False),  # the hour it fired
    Column("last_hour", BigInteger, nullable=False),  # the latest hour it held
    Column("resolved_hour", BigInteger),  # the first hour judged after it in which it no longer held
    Column("value", Float, nullable=False),  # the measure at last_hour
    Column("peak", Float, nullable=False),  # the largest value while it held
    Column("threshold", Float, nullable=False),  # what the value had to pass at last_hour
    Column("baseline", Float),  # a baseline rule's median at last_hour
    Column("users", Text, nullable=False),  # JSON list: the users involved, largest first
    Column("machines", Text, nullable=False),  # JSON list: the machines involved, largest first
    Column("notify", String(8), nullable=False),
    Column("notified_at", BigInteger),  # when a sender claimed it (wall clock)
    Column("notified_by", String(64)),  # which sender (host and process)
    Column("opened_at", BigInteger, nullable=False),  # wall clock
    Column("updated_at", BigInteger, nullable=False),
    CheckConstraint(f"state IN {ALERT_STATES!r}", name="ck_alert_state"),
    CheckConstraint(f"notify IN {NOTIFY_STATES!r}", name="ck_alert_notify"),
)
# At most one open alert per key, whatever runs the evaluation (a second follower included).
Index(
    "ux_alerts_open_key",
    alerts.c.key,
    unique=True,
    sqlite_where=alerts.c.state == "open",
    postgresql_where=alerts.c.state == "open",
)
Index("ix_alerts_key", alerts.c.key, alerts.c.first_hour)
Index("ix_alerts_last_hour", alerts.c.last_hour)
Index(
    "ix_alerts_pending",
    alerts.c.notify,
    sqlite_where=alerts.c.notify.in_(("pending", "sending")),
    postgresql_where=alerts.c.notify.in_(("pending", "sending")),
)

# Each message about an alert: one row per alert it carried (a digest carries several), recipient and channel.
alert_deliveries = Table(
    "AlertDeliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", Integer, ForeignKey("Alerts.id"), nullable=False),
    Column("channel", String(16), nullable=False),  # email, webhook
    Column("recipient", Text, nullable=False),  # an address, 'user NAME' without one, the webhook's scheme://host
    Column("ok", Boolean, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("reason", Text, nullable=False),  # why it failed; '' when delivered
    Column("digest", Boolean, nullable=False),
    Column("at", BigInteger, nullable=False),
)
Index("ix_deliveries_alert", alert_deliveries.c.alert_id)

# The hours judged, and what they held when judged (sessions, operations): a block that grew since (read again
# complete) is judged again; one read again unchanged is not. `error`: the judgement failed (it is tried again).
alert_hours = Table(
    "AlertHours",
    metadata,
    Column("hour", BigInteger, primary_key=True, autoincrement=False),
    Column("sessions", BigInteger, nullable=False),
    Column("operations", BigInteger, nullable=False),
    Column("judged_at", BigInteger, nullable=False),
    Column("error", Text),
)
