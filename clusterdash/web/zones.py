"""The time zones the dashboard offers: IANA's country table, not every name the zone database knows.

The zone database holds about 600 names, many of them old aliases of one another ("US/Pacific" for
"America/Los_Angeles", "Asia/Calcutta", the "Etc/GMT+3" offsets with their inverted signs). The list offered
is the zones of IANA's country table (zone.tab): one name per region that keeps its own clock, about 420 of
them, every country's zones included (Europe/Oslo is there for an admin in Norway). The server's own zone
comes first, then UTC. A zone typed in a URL that is valid but not in the list still works (`choices` adds it).
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from zoneinfo import TZPATH, available_timezones

TABLE = "zone.tab"
UTC = "UTC"
# Without a country table (neither the tzdata package nor a system zone database has one): every available name
# except the alias families.
ALIAS_PREFIXES = ("Etc/", "US/", "SystemV/", "posix/", "right/", "Canada/", "Mexico/", "Brazil/", "Chile/")


def _read_table() -> str | None:
    try:
        return (resources.files("tzdata") / "zoneinfo" / TABLE).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        pass
    for folder in TZPATH:
        path = Path(folder) / TABLE
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return None


@functools.cache
def _available() -> frozenset[str]:
    return frozenset(available_timezones())


@functools.cache
def canonical() -> tuple[str, ...]:
    """The zones of the country table, sorted; they are all valid names here (checked against zoneinfo)."""
    known = _available()
    table = _read_table()
    if table is None:
        names = {n for n in known if "/" in n and not n.startswith(ALIAS_PREFIXES)}
    else:
        rows = (line.split("\t") for line in table.splitlines() if line and not line.startswith("#"))
        names = {row[2].strip() for row in rows if len(row) >= 3} & known
    return tuple(sorted(names))


def choices(server_zone: str, current: str | None = None) -> list[str]:
    """The dropdown's options: the server's zone, UTC, then the country table; `current` (a zone from the URL)
    is added after UTC when the list does not hold it."""
    extra = [current] if current and current in _available() else []
    first = list(dict.fromkeys([server_zone, UTC, *extra]))
    return first + [name for name in canonical() if name not in first]
