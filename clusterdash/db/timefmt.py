"""Epochs as text for machines (API, CSV, stats): ISO-8601 UTC with Z. For people: web/format.py."""

from __future__ import annotations

from datetime import datetime, timezone


def iso_utc(epoch: int | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(int(epoch), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
