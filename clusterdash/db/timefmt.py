"""The one place epochs become text: ISO-8601 UTC with Z for machines, the display zone for people."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo


def iso_utc(epoch: int | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(int(epoch), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_text(epoch: int | None, tz: str) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(int(epoch), ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %Z")
