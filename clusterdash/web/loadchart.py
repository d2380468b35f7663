"""The load view, pure like figures.py: each user's share of the server's operations and of its estimated bytes as
a pair of horizontal bars, so the two rankings read on one scale ("who loaded the server").

A long operations bar beside a short bytes bar is a user of many small requests, which cost the server per
operation (the hatched part: small IO, under 4 KiB); a long bytes bar beside a short operations bar, a user of
few large transfers, which cost it bandwidth. Names are drawn through format.plot_text; every bar carries the
raw name in customdata, which a click selects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clusterdash.web import format as fmt
from clusterdash.web.colors import MEASURE_COLORS
from clusterdash.web.figures import Figure, axis, base_layout, empty_figure, highlight, note_annotation, title

HOW_TO_READ = (
    "Each user's share of all users' operations and of their estimated bytes in the range, on one scale. "
    "A long operations bar beside a short bytes bar: many small requests (hatched: small IO under 4 KiB), which "
    "cost the server per operation (metadata, small files), not bandwidth. A long bytes bar beside a short "
    "operations bar: few large transfers, which fill the disks and the network. Long on both: that user loaded "
    "the server either way. Click a bar to select the user."
)
PER_USER_PX = 28  # two bars and the gap between users
SMALL_IO = "small IO (< 4 KiB)"


def _hover(row: dict[str, Any], shown: str, among: int) -> str:
    ranks = row["rank_operations"], row["rank_bytes"]
    return (
        f"{shown}<br>{fmt.share(row['share_operations'])} of operations ({fmt.ordinal(ranks[0])} of {among:,}), "
        f"{fmt.share(row['small_share'])} of them {SMALL_IO}<br>"
        f"{fmt.share(row['share_bytes'])} of estimated bytes ({fmt.ordinal(ranks[1])} of {among:,})"
    )


def load_bars(
    rows: Sequence[dict[str, Any]],
    among: int,
    selected: Sequence[str] = (),
    note: str = "",
    empty_message: str = "No data for this selection",
) -> Figure:
    """`rows`: db.query.load_shares rows in the order to draw them (most loading on top); `among`: how many users
    the shares are of; `selected`: the selected users (drawn solid, the others faded); `note`: where the list
    is cut ("top 20 of 93 users")."""
    if not rows:
        return empty_figure(empty_message)
    names = [r["user"] for r in rows]
    shown = [fmt.plot_text(n) for n in names]
    hover = [_hover(r, s, among) for r, s in zip(rows, shown)]
    operations = [100 * (r["share_operations"] or 0) for r in rows]
    small = [o * (r["small_share"] or 0) for o, r in zip(operations, rows)]

    def bars(name: str, x: list[float], measure: str, **more: Any) -> dict:
        return dict(
            type="bar",
            orientation="h",
            name=name,
            x=x,
            y=shown,
            customdata=names,
            offsetgroup=measure,
            marker=highlight(names, selected, MEASURE_COLORS[measure]),
            hovertext=hover,
            hoverinfo="text",
            **more,
        )

    hatched = bars(f"share of operations: {SMALL_IO}", small, "operations")
    hatched["marker"]["pattern"] = dict(shape="/", fillmode="overlay", fgcolor="#ffffff", fgopacity=0.8, solidity=0.35)
    data = [
        hatched,
        bars("share of operations: larger IO", [o - s for o, s in zip(operations, small)], "operations", base=small),
        bars("share of estimated bytes", [100 * (r["share_bytes"] or 0) for r in rows], "bytes"),
    ]
    largest = max(max(operations), max(data[2]["x"]))
    annotations = []
    if note:
        annotations.append({**note_annotation(note), "y": 1, "yanchor": "bottom", "yshift": 30})
    return dict(
        data=data,
        layout=base_layout(
            height=max(200, PER_USER_PX * len(rows) + 110),
            margin=dict(l=8, r=8, t=56 if note else 36, b=8),
            barmode="group",
            bargap=0.3,
            bargroupgap=0.05,
            clickmode="event",
            showlegend=True,
            legend=dict(orientation="h", x=0, y=1, xanchor="left", yanchor="bottom", traceorder="normal"),
            annotations=annotations,
            xaxis=axis(
                title=title("share of all users' total in the range"),
                ticksuffix=" %",
                tickformat=",~g",
                rangemode="tozero",
                range=[0, largest * 1.05 or 1],
            ),
            yaxis=axis(type="category", autorange="reversed", gridcolor="rgba(0,0,0,0)"),
        ),
    )
