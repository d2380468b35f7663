"""Helpers for the alert tests: hand-built hours of log with known figures, rule files from text, the real ingest with
the evaluation as its hook, and the alerts the database holds."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path

from sqlalchemy import select

from clusterdash.alerts.evaluate import Evaluator
from clusterdash.alerts.rulefile import parse_rules
from clusterdash.alerts.rules import RuleSet
from clusterdash.db.alerts.store import StoredAlert, as_stored_alert
from clusterdash.db.periods import HOUR
from clusterdash.db.schema import alert_deliveries, alert_hours, alerts
from clusterdash.ingest.pipeline import ingest_paths
from tests.logtools import row

BASE = 1741784400  # 2025-03-12 13:00 UTC, a whole hour
WEEK = 7 * 24 * HOUR

# (direction, machine, machine type, user, role) -> {bucket label: count}
Entries = Mapping[tuple[str, str, str, str, str], Mapping[str, int]]


def reads(user: str, count: int, machine: str = "tik01", label: str = "[64K, 128K)", role: str = "stud") -> Entries:
    """One user's reads in one bucket on one machine."""
    return {("rd", machine, "tik", user, role): {label: count}}


def hour_block(hour: int, entries: Entries) -> str:
    """The block that reports `hour` (logged 15 s after the hour's end), as bpftrace prints it."""
    lines = [f"Log: 2025-03-12 14:00:15 ({hour + HOUR + 15})"]
    for (direction, machine, machine_type, user, role), rows in entries.items():
        lines.append(f"@{direction}_client({machine},{machine_type})[{user}({role}/tik)]:")
        lines.extend(row(label, count) for label, count in rows.items())
        lines.append("")
    return "\n".join(lines) + "\n"


def merged(*parts: Entries) -> dict:
    out: dict = {}
    for part in parts:
        for key, rows in part.items():
            out.setdefault(key, {}).update(rows)
    return out


def log_text(hours: Mapping[int, Entries]) -> str:
    return "".join(hour_block(hour, entries) for hour, entries in sorted(hours.items()))


def heavy_rule(**more: object) -> str:
    """A rule file's text with one rule: a user's operations in an hour above 1000, with `more` keys."""
    lines = ['name = "heavy"', 'subject = "user"', 'measure = "operations"', "above = 1000"]
    lines += [f"{key} = {value!r}" if isinstance(value, str) else f"{key} = {value}" for key, value in more.items()]
    return "[[rule]]\n" + "\n".join(lines) + "\n"


def rules(text: str) -> RuleSet:
    return parse_rules(textwrap.dedent(text), "test.toml")


def rule_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(textwrap.dedent(text))
    return path


def ingest_with(engine, path: Path, evaluator: Evaluator, settle: float = 0.0, resume: bool = True) -> None:
    """The one-shot ingest of `path`, judging through the evaluator after each commit (as the CLI wires it)."""
    ingest_paths(
        engine, [str(path)], progress=False, resume=resume, after_commit=evaluator.hours_completed, settle=settle
    )


def evaluate_log(engine, tmp_path: Path, ruleset: RuleSet, hours: Mapping[int, Entries], **options) -> Evaluator:
    """Write the hours as a log, ingest it with an evaluator of `ruleset` (no channels), return the evaluator."""
    path = tmp_path / "io_usage.log"
    path.write_text(log_text(hours))
    evaluator = Evaluator(engine, ruleset, notifying=False, **options)
    ingest_with(engine, path, evaluator)
    return evaluator


def stored_alerts(engine, rule: str | None = None) -> list[StoredAlert]:
    with engine.connect() as conn:
        query = select(alerts).order_by(alerts.c.id)
        if rule is not None:
            query = query.where(alerts.c.rule == rule)
        return [as_stored_alert(r) for r in conn.execute(query)]


def judged_hours(engine) -> dict[int, tuple[int, int, str | None]]:
    with engine.connect() as conn:
        return {r.hour: (r.sessions, r.operations, r.error) for r in conn.execute(select(alert_hours))}


def deliveries(engine) -> list:
    with engine.connect() as conn:
        return list(conn.execute(select(alert_deliveries).order_by(alert_deliveries.c.id)))


def keys(found: Iterable[StoredAlert]) -> list[tuple[str, int]]:
    return [(a.key, a.first_hour) for a in found]
