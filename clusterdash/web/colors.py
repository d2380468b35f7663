"""The dashboard's colours, and the rule that gives a name its colour in a chart of several series.

A series keeps its colour whatever the view: the colour comes from the name, not from its rank. Each name has
a home slot in SERIES_PALETTE (a stable hash of the name, the same in every process and on every page); when
two names shown in one chart share a home slot, the one whose hash is smaller keeps it and the other takes a
slot no shown name has, so two visible series never share a colour, the winner of a clash is always the same
name, and a name changes colour only in a chart that shows a name with the same home slot (and then always to
the same second choice).
"other" (the sum of the rest) is always grey.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable

# Each cross-filter dimension has one colour, used wherever it is drawn.
DIMENSION_COLORS = {
    "users": "#2563eb",
    "machines": "#0d9488",
    "machine_types": "#7c3aed",
    "roles": "#d97706",
    "sizes": "#16a34a",
    "jobs": "#be185d",
}
# The load view's two measures side by side (the small-IO part of the operations is hatched in the same colour).
MEASURE_COLORS = {"operations": "#1f5f99", "bytes": "#e07b00"}
# Tableau 20 without its two greys (grey is "other"): colour-blind-friendly hues in a dark and a light tone;
# 18 slots, more than the largest "top" a chart offers (15), so every series of a chart gets its own colour.
SERIES_PALETTE = (
    "#4e79a7",
    "#a0cbe8",
    "#f28e2b",
    "#ffbe7d",
    "#59a14f",
    "#8cd17d",
    "#b6992d",
    "#f1ce63",
    "#499894",
    "#86bcb6",
    "#e15759",
    "#ff9d9a",
    "#d37295",
    "#fabfd2",
    "#b07aa1",
    "#d4a6c8",
    "#9d7660",
    "#d7b5a6",
)
OTHER = "other"
OTHER_COLOR = "#bab0ac"
_STEPS = tuple(k for k in range(1, len(SERIES_PALETTE)) if math.gcd(k, len(SERIES_PALETTE)) == 1)


def _digest(name: str) -> int:
    return zlib.crc32(name.encode("utf-8", "surrogatepass"))


def home_color(name: str) -> str:
    """The colour `name` has in any chart where no other name claims it first (see series_colors)."""
    return OTHER_COLOR if name == OTHER else SERIES_PALETTE[_digest(name) % len(SERIES_PALETTE)]


def series_colors(names: Iterable[str]) -> dict[str, str]:
    """A colour for each of `names` (the series one chart shows): its home slot, unless a name shown with it has
    the same home and a smaller hash; then the next slot no shown name has. Only a name sharing its home can
    move a name. More names than slots (never in the dashboard) reuse the palette."""
    shown = set(names)
    size = len(SERIES_PALETTE)
    colors: dict[str, str] = {}
    taken: set[int] = set()
    displaced = []
    for digest, name in sorted((_digest(n), n) for n in shown if n != OTHER):
        if digest % size in taken:
            displaced.append((digest, name))
        else:
            taken.add(digest % size)
            colors[name] = SERIES_PALETTE[digest % size]
    for digest, name in displaced:
        if len(taken) == size:
            taken.clear()
        # The name's own order of second choices (a step coprime to the palette's size visits every slot), so
        # whenever the same name displaces it, it moves to the same colour.
        step = _STEPS[(digest // size) % len(_STEPS)]
        slot = digest % size
        while slot in taken:
            slot = (slot + step) % size
        taken.add(slot)
        colors[name] = SERIES_PALETTE[slot]
    if OTHER in shown:
        colors[OTHER] = OTHER_COLOR
    return colors
