"""A subject's usual level: what the same user or machine did in the same hours of the weeks before.

For a range [S, E) the week k (1 to USUAL_WEEKS) before is [S_k, E_k), S_k and E_k being S and E moved back k
weeks on the display zone's wall clock (periods.weeks_before: the same local hours of the same weekdays, so a
week across a daylight-saving change has an hour more or less). Its total is read under the same filters as
the range, from the rollups where whole periods fit and raw hours at its edges (one range total per week).
Only a range of up to a week has a usual level: the weeks before a longer one overlap it and each other.

A week counts when blocks cover at least USUAL_MIN_COVERAGE of its hours (before the log began, or across a
long tracer outage, a total would read as quiet hours what is missing data). The usual level is the median of
the counted weeks' totals, given when at least USUAL_MIN_WEEKS weeks count; otherwise the answer says that
there is too little history, and gives no number. The ratio is the range's total over the usual level (None
when the usual level is 0 or unknown).
"""

from __future__ import annotations

from statistics import median
from typing import Any

from clusterdash.db.periods import HOUR, weeks_before
from clusterdash.db.query.coverage import blocks
from clusterdash.db.query.measures import ZERO, Measures
from clusterdash.db.query.scope import Reader, Scope
from clusterdash.db.query.totals import group_totals
from clusterdash.db.timefmt import iso_utc

USUAL_WEEKS = 4
USUAL_MIN_WEEKS = 3
USUAL_MIN_COVERAGE = 0.9
USUAL_MAX_HOURS = 7 * 24 + 1  # a week (of 169 hours across a DST change): longer ranges overlap the weeks before
USUAL_DEFINITION = (
    f"the median of the same hours 1 to {USUAL_WEEKS} weeks before (local time), over the weeks whose hours have "
    f"data for at least {USUAL_MIN_COVERAGE:.0%} of them; given when {USUAL_MIN_WEEKS} or more do"
)


def usual_level(reader: Reader, scope: Scope, now: Measures) -> dict[str, Any]:
    """The usual level of the subject of `scope` (filters narrowed to it) beside `now`, its total in the range."""
    found = blocks(reader.conn)
    weeks: list[dict[str, Any]] = []
    counted: list[Measures] = []
    too_long = scope.end_hour - scope.first_hour > USUAL_MAX_HOURS * HOUR
    for k in range(1, 0 if too_long else USUAL_WEEKS + 1):
        lo = weeks_before(scope.first_hour, k, scope.filters.tz)
        hi = weeks_before(scope.end_hour, k, scope.filters.tz)
        hours, with_data = (hi - lo) // HOUR, len(found.hours_in(lo, hi))
        total = None
        if hours > 0 and with_data >= USUAL_MIN_COVERAGE * hours:
            total = group_totals(reader, scope.narrowed(first_hour=lo, end_hour=hi), ()).get((), ZERO)
            counted.append(total)
        weeks.append(
            {
                "weeks_before": k,
                "start": iso_utc(lo),
                "end": iso_utc(hi),
                "hours": hours,
                "hours_with_data": with_data,
                "counted": total is not None,
                "operations": None if total is None else int(total.operations),
                "bytes": None if total is None else total.bytes_mid,
            }
        )
    enough = len(counted) >= USUAL_MIN_WEEKS
    usual: dict[str, float | None] = {"operations": None, "bytes": None}
    ratio: dict[str, float | None] = {"operations": None, "bytes": None}
    if enough:
        for name, value in (("operations", lambda m: m.operations), ("bytes", lambda m: m.bytes_mid)):
            level = median(value(m) for m in counted)
            usual[name], ratio[name] = level, value(now) / level if level else None
    return {
        "definition": USUAL_DEFINITION,
        "weeks_counted": len(counted),
        "enough_history": enough,
        "note": None if enough else _why_not(too_long, len(counted)),
        **usual,
        "ratio": ratio,
        "weeks": weeks,
    }


def _why_not(too_long: bool, counted: int) -> str:
    if too_long:
        return "only for ranges of up to a week: a longer range overlaps the weeks before it"
    return f"too little history: {counted} of the {USUAL_WEEKS} weeks before have data ({USUAL_MIN_WEEKS} needed)"
