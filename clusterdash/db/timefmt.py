"""Epochs as text: ISO-8601 UTC with Z for machines (API, CSV, stats); `local_text` for people, in a display zone
(alert messages, which cannot use web/format.py; the dashboard's own formats are there)."""

from __future__ import annotations

from datetime import datetime, timezone

from clusterdash.db.periods import zone


def iso_utc(epoch: int | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(int(epoch), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_text(epoch: int, tz: str) -> str:
    """'2025-03-12 14:00 CET': the wall-clock time in the zone `tz`, with the zone's abbreviation."""
    return datetime.fromtimestamp(int(epoch), zone(tz)).strftime("%Y-%m-%d %H:%M %Z")
