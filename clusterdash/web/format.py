"""Numbers, sizes, durations, times and names as people read them. The one place the dashboard formats values.

Counts use SI prefixes, written as d3's ".3~s" writes them (12, 12.3k, 4.56M, 1.9G), so a headline, a hover
label, a table cell (dash_table's SI format) and a chart axis (plotly's tickformat "~s", COUNT_TICKFORMAT) all
read alike. Bytes are binary units (KiB = 1024, as in the log's bucket labels). Byte figures in the dashboard
are estimates: count x bucket midpoint (see the log format spec), and every label that shows one says so.

Names from the log are data. `visible` shows the characters that would reorder or hide text (bidirectional
controls, other control and format characters) as escapes like `\\u202e`; `plot_text` also escapes the markup
plotly would otherwise interpret in any text it draws (labels, ticks, legends, hover text, annotations).
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from datetime import datetime
from zoneinfo import ZoneInfo

from clusterdash.db import sizes
from clusterdash.db.sizes import BYTE_UNITS

SI_PREFIXES = ("", "k", "M", "G", "T", "P", "E")
COUNT_TICKFORMAT = "~s"  # plotly (d3) SI ticks: 500, 1.5k, 2M, the suffixes `count` writes
BYTES_ESTIMATE = "estimated bytes (count × bucket midpoint)"

# Unicode categories shown as escapes: Cc controls, Cf format characters (the bidirectional embeddings, overrides,
# isolates and marks U+202A-U+202E, U+2066-U+2069, U+200E/U+200F, zero-width characters), Cs lone surrogates, Zl/Zp
# line and paragraph separators.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _escape_character(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def visible(name: object) -> str:
    """`name` as text with every control or format character written as its escape ('a\\u202eb'): a spoofed name
    cannot reorder or hide the text around it. Dash shows text as text; this is for chips, cards and the table."""
    text = str(name)
    if text.isascii():  # nearly every name: one regex search
        return _ASCII_CONTROL.sub(lambda m: _escape_character(m.group()), text) if _ASCII_CONTROL.search(text) else text
    return "".join(_escape_character(c) if unicodedata.category(c) in INVISIBLE_CATEGORIES else c for c in text)


def plot_text(name: object) -> str:
    """`name` for any text plotly draws: `visible`, and markup escaped (plotly reads <a>, <b>, <span style> and
    entities in labels, ticks, legends, hover text and annotations), so it shows as the literal text."""
    return html.escape(visible(name), quote=False)


# A spreadsheet reads a cell starting with one of these as a formula (and a tab or carriage return may hide one).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A value for a CSV cell: None empty; text that a spreadsheet would run as a formula (=1+2, @SUM, -2+3) with a
    leading apostrophe, so that it shows as the text it is; numbers as they are."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def count(value: float | int | None) -> str:
    """12 -> '12', 12_345 -> '12.3k', 4_560_000 -> '4.56M', 999_999 -> '1M': three significant digits and an SI
    prefix, as d3's ".3~s" (plotly's axes, dash_table's cells) writes them."""
    if value is None:
        return "–"
    value = float(value)
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    rounded = float(f"{value:.3g}")  # round first: 999,999 is '1M', not '1e+03k'
    group = min(max(int(math.floor(math.log10(abs(rounded)))) // 3, 0), len(SI_PREFIXES) - 1)
    return f"{rounded / 10 ** (3 * group):.3g}{SI_PREFIXES[group]}"


size = sizes.bytes_text  # bytes in binary units: one rule with the alert messages (db/sizes.py)


def metric_value(value: float | int | None, metric: str) -> str:
    return size(value) if metric == "bytes" else count(value)


def metric_title(metric: str) -> str:
    return BYTES_ESTIMATE if metric == "bytes" else "operations"


def byte_scale(largest: float) -> tuple[float, str]:
    """(divisor, unit) so that the largest value reads as 1..1023 of a binary unit: axes then show plain numbers."""
    divisor, unit = 1.0, BYTE_UNITS[0]
    for next_unit in BYTE_UNITS[1:]:
        if largest < divisor * 1024:
            break
        divisor, unit = divisor * 1024, next_unit
    return divisor, unit


def percent(part: float, whole: float) -> str:
    if not whole:
        return "–"
    share = 100.0 * part / whole
    return f"{share:.1f} %" if share >= 0.1 or share == 0 else "< 0.1 %"


def share(fraction: float | None) -> str:
    """A share given as a fraction (0.142) the way `percent` writes one: '14.2 %'."""
    return "–" if fraction is None else percent(fraction, 1)


def ordinal(n: int) -> str:
    """1 -> '1st', 2 -> '2nd', 3 -> '3rd', 11 -> '11th', 22 -> '22nd'."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n:,}{suffix}"


def ratio(value: float | None) -> str:
    """How many times something is: '4.2×', '0.8×', '12×', '< 0.1×'."""
    if value is None:
        return "–"
    if value < 0.1:
        return "< 0.1×" if value > 0 else "0×"
    return f"{value:.1f}×" if value < 10 else f"{value:,.0f}×"


def age(seconds: float | None) -> str:
    """A duration the way a status line says it: '42 s', '17 min', '5 h', '3 d'."""
    if seconds is None:
        return "–"
    seconds = max(0, int(seconds))
    for limit, divisor, unit in ((120, 1, "s"), (7200, 60, "min"), (172800, 3600, "h")):
        if seconds < limit:
            return f"{seconds // divisor} {unit}"
    return f"{seconds // 86400} d"


def when(epoch: int | None, tz: str, with_zone: bool = True) -> str:
    if epoch is None:
        return "–"
    text = datetime.fromtimestamp(int(epoch), ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")
    return f"{text} {datetime.fromtimestamp(int(epoch), ZoneInfo(tz)).strftime('%Z')}" if with_zone else text


def span(start: int, end: int, tz: str) -> str:
    """A time range as the page says it: '2025-03-12 12:00 – 18:00 CET', the end's date only when it is another
    day ('2025-03-12 12:00 – 2025-03-13 00:00 CET')."""
    zone = ZoneInfo(tz)
    first, last = datetime.fromtimestamp(int(start), zone), datetime.fromtimestamp(int(end), zone)
    end_text = last.strftime("%H:%M" if last.date() == first.date() else "%Y-%m-%d %H:%M")
    return f"{first.strftime('%Y-%m-%d %H:%M')} – {end_text} {last.strftime('%Z')}"
