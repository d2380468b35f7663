"""Pure builders of the charts with a time axis: the stacked series and the size-over-time heatmap. The
conventions of figures.py hold here too; these add the rules of an honest time axis:

* a bucket is drawn over exactly the time it covers: a bar from its start to its end (the heatmap's cells
  likewise), so a one-hour burst is one hour wide and nothing is interpolated between buckets;
* a bucket without any block is "no data", not zero IO: no bar (its values are None), the span shaded grey;
* the bucket is named on the axis and in the hover ("operations per day"); a bucket with data for only part
  of its period (cut by the range, or with hours missing) says so in its hover ("partial: 37 of 168 hours"),
  and is drawn lighter, outlined, when the missing part is large enough to read as a dip (coverage.SHORT_SHARE);
* times arrive as UTC epochs and are drawn as wall-clock times in the display zone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from clusterdash.web import format as fmt
from clusterdash.web.colors import OTHER, series_colors
from clusterdash.web.coverage import Buckets
from clusterdash.web.figures import (
    Figure,
    axis,
    base_layout,
    empty_figure,
    local_times,
    short_size,
    title,
    value_axis,
)

GAP_COLOR = "#adb5bd"
ALERT_COLOR = "#dc3545"
LEGEND_PER_ROW, LEGEND_ROW_PX = 7, 20  # about as many legend entries fit in a row of the series panel
PARTIAL_VEIL = "rgba(255, 255, 255, 0.55)"
HOVER_FORMATS = {  # the hover's heading: the bucket's start, as precise as the bucket
    "hour": "%a %Y-%m-%d %H:%M",
    "day": "%a %Y-%m-%d",
    "week": "week from %a %Y-%m-%d",
    "month": "%B %Y",
}
CELL_HOVER_FORMATS = {"hour": "%a %Y-%m-%d %H:00", "day": "%a %Y-%m-%d", "week": "ISO week %V of %G", "month": "%B %Y"}


def _bucket_notes(buckets: Buckets, metric: str) -> list[str]:
    """Per bucket, what the hover says about it: the unit, whether it is partial, or that it is a gap."""
    unit = f"{'estimated bytes' if metric == 'bytes' else 'operations'} per {buckets.unit}"
    notes = []
    for i in range(len(buckets)):
        if buckets.is_gap(i):
            notes.append(f"no data: no block in this {buckets.unit}")
        elif buckets.is_partial(i):
            notes.append(f"{unit} · partial: {buckets.hours_with_data[i]:,} of {buckets.period_hours[i]:,} hours")
        else:
            notes.append(unit)
    return notes


def _spans(buckets: Buckets, tz: str) -> tuple[list[str], list[str], list[float]]:
    """(start texts, end texts, widths in ms) of the buckets on the wall-clock axis. Across a daylight-saving
    change the wall clock skips or repeats an hour: a bucket is never drawn narrower than its real length."""
    starts, ends = local_times(buckets.starts, tz), local_times(buckets.ends, tz)
    wall = ((ends - starts).dt.total_seconds() * 1000).to_numpy()
    real = (np.asarray(buckets.ends) - np.asarray(buckets.starts)) * 1000.0
    widths = np.where(wall > 0, wall, real).astype(np.int64).tolist()
    return starts.dt.strftime("%Y-%m-%d %H:%M").tolist(), ends.dt.strftime("%Y-%m-%d %H:%M").tolist(), widths


def _runs(flags: Sequence[bool]) -> list[tuple[int, int]]:
    """(first, last) index of each run of True in `flags`."""
    runs: list[list[int]] = []
    for i, flag in enumerate(flags):
        if flag:
            if runs and runs[-1][1] == i - 1:
                runs[-1][1] = i
            else:
                runs.append([i, i])
    return [(first, last) for first, last in runs]


def _bands(flags: Sequence[bool], starts: list[str], ends: list[str], **style) -> list[dict]:
    """A rectangle the plot's height over each run of buckets whose flag is set."""
    return [
        dict(type="rect", x0=starts[first], x1=ends[last], y0=0, y1=1, xref="x", yref="paper", **style)
        for first, last in _runs(flags)
    ]


def _marks(buckets: Buckets, starts: list[str], ends: list[str]) -> list[dict]:
    """A grey band over each run of gap buckets: a dip there is missing data, not a quiet hour. A light veil with
    a dotted outline over each bucket with data for only part of its period (a cut first or last week): its bar
    is lighter, so it does not read as a collapse (a shape, not a bar pattern: the legend's swatches stay
    plain)."""
    every = range(len(buckets))
    gap = dict(fillcolor=GAP_COLOR, opacity=0.25, line=dict(width=0), layer="below")
    short = dict(fillcolor=PARTIAL_VEIL, line=dict(width=1, dash="dot", color=GAP_COLOR), layer="above")
    return _bands([buckets.is_gap(i) for i in every], starts, ends, **gap) + _bands(
        [buckets.is_short(i) for i in every], starts, ends, **short
    )


def stacked_series(
    series: Mapping[str, Sequence[float | None]],
    buckets: Buckets,
    metric: str,
    tz: str,
    note: str = "",
    empty_message: str = "No data for this selection",
    markers: Sequence[tuple[int, str]] = (),
) -> Figure:
    """Stacked bars over time, one series per name (largest at the bottom, "other" on top and grey), each
    bucket's bar as wide as the bucket. `series` maps a name to its values per bucket of `buckets` (None: no
    data). `note` titles the legend (say there that the list is cut: "top 8 of 93 users"). `markers`: (hour,
    text) of the hours alerts fired, drawn as red marks above the bars at those hours."""
    totals = {name: sum(v or 0 for v in values) for name, values in series.items()}
    if not any(totals.values()) or not len(buckets):
        return empty_figure(empty_message, height=300)
    order = sorted((n for n in totals if n != OTHER), key=lambda n: (-totals[n], n)) + (
        [OTHER] if OTHER in totals else []
    )
    colors = series_colors(order)
    stacked = np.nansum(np.array([series[n] for n in order], dtype=float), axis=0)
    divisor, y_axis = value_axis(float(stacked.max()), metric, per=buckets.unit)
    starts, ends, widths = _spans(buckets, tz)
    common = dict(type="bar", x=starts, offset=0, width=widths[0] if len(set(widths)) == 1 else widths)
    # First, an invisible bar per bucket that heads the hover with what the bucket is ("operations per day ·
    # partial: 37 of 168 hours", "no data"): in unified hover it is listed first, and it has no legend entry.
    traces = [
        dict(
            common,
            name="bucket",
            y=[0] * len(buckets),
            marker=dict(color="rgba(0,0,0,0)"),
            hovertext=_bucket_notes(buckets, metric),
            hovertemplate="%{hovertext}<extra></extra>",
            showlegend=False,
        )
    ]
    for name in order:
        values = series[name]
        marker = dict(color=colors[name], line=dict(width=0))
        label = fmt.plot_text(name)
        traces.append(
            dict(
                common,
                name=label,
                y=[None if v is None else v / divisor for v in values],
                marker=marker,
                hovertext=[None if v is None else fmt.metric_value(v, metric) for v in values],
                hovertemplate="%{fullData.name}: %{hovertext}<extra></extra>",
            )
        )
    if markers:
        traces.append(_alert_marks(markers, tz, float(stacked.max()) / divisor))
    return dict(
        data=traces,
        layout=base_layout(
            height=300 + LEGEND_ROW_PX * math.ceil(len(order) / LEGEND_PER_ROW),  # the plot keeps its height
            showlegend=True,
            barmode="stack",
            bargap=0,
            hovermode="x unified",
            dragmode="zoom",
            shapes=_marks(buckets, starts, ends),
            legend=dict(
                orientation="h",
                yanchor="top",
                y=-0.12,
                x=0,
                traceorder="normal",
                font=dict(size=11),
                title=dict(text=fmt.plot_text(note), side="top", font=dict(size=11, color="#6c757d")),
            ),
            xaxis=axis(type="date", hoverformat=HOVER_FORMATS.get(buckets.unit, HOVER_FORMATS["day"])),
            yaxis={**y_axis, "fixedrange": True},
        ),
    )


def _alert_marks(markers: Sequence[tuple[int, str]], tz: str, top: float) -> dict:
    """A red mark above the bars in the middle of each hour an alert fired; its hover names the alert."""
    times = local_times([hour + 1800 for hour, _ in markers], tz).dt.strftime("%Y-%m-%d %H:%M").tolist()
    return dict(
        type="scatter",
        mode="markers",
        name="alerts",
        x=times,
        y=[top * 1.05] * len(markers),
        marker=dict(symbol="triangle-down", size=10, color=ALERT_COLOR),
        hovertext=[fmt.plot_text(text) for _, text in markers],
        hovertemplate="alert: %{hovertext}<extra></extra>",
    )


def log_ticks(low: float, high: float, metric: str) -> tuple[list[float], list[str]]:
    """Colour-bar ticks for a log10 scale from `low` to `high`, labelled with the values they stand for: 1, 10,
    100, 1k (with 2 and 5 between them when the range is narrow) for counts; 1 KiB, 1 MiB (or 32 KiB, 4 KiB ...
    when the range is narrow) for bytes."""
    if metric == "bytes":
        lo, hi = math.ceil(low / math.log10(2) - 1e-9), math.floor(high / math.log10(2) + 1e-9)
        for step in (10, 5, 2, 1):
            exponents = [e for e in range(lo, hi + 1) if e % step == 0]
            if len(exponents) >= 3 or step == 1:
                break
        return [e * math.log10(2) for e in exponents], [fmt.size(2**e) for e in exponents]
    decades = range(math.floor(low), math.ceil(high) + 1)
    values = [10.0**d for d in decades if low - 1e-9 <= d <= high + 1e-9]
    if len(values) < 3:
        values = [m * 10.0**d for d in decades for m in (1, 2, 5)]
        values = [v for v in values if low - 1e-9 <= math.log10(v) <= high + 1e-9]
    return [math.log10(v) for v in values], [fmt.count(v) for v in values]


def size_heatmap(
    labels: Sequence[str],
    values: np.ndarray,
    buckets: Buckets,
    metric: str,
    tz: str,
    selected: Sequence[str] = (),
    empty_message: str = "No data for this selection",
) -> Figure:
    """IO size bucket (rows, `labels` smallest first) x time bucket (columns, `buckets`): `values[row, column]`,
    NaN where there is no IO. Colour is log-scaled, since one heavy bucket would otherwise wash out the rest,
    and the colour bar is labelled with real values (10, 100, 1k). Each cell spans its bucket's time."""
    if not len(labels) or not len(buckets) or not np.nansum(values):
        return empty_figure(empty_message, height=300)
    positive = np.where(values > 0, values, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_z = np.log10(positive)
    low = max(0.0, math.floor(float(np.nanmin(log_z))))
    high = max(float(np.nanmax(log_z)), low + 1)
    # NaN (no IO) becomes null: drawn as a hole, not as zero.
    z = np.round(log_z, 4).astype(object)
    z[np.isnan(log_z)] = None
    starts, ends, _ = _spans(buckets, tz)
    shown = [fmt.plot_text(label) for label in labels]
    # Short texts (a week of hours is thousands of cells): the cell's time and size come from the axes, the
    # unit from the template; only the cells of a bucket marked short in the series say more. Cells without IO
    # have no hover.
    partial = [
        f" (partial: {buckets.hours_with_data[i]:,} of {buckets.period_hours[i]:,} hours)"
        if buckets.is_short(i)
        else ""
        for i in range(len(buckets))
    ]
    text = [
        ["" if not v > 0 else fmt.metric_value(v, metric) + note for v, note in zip(row, partial)]
        for row in values.tolist()
    ]
    what = "estimated bytes" if metric == "bytes" else "operations"
    tickvals, ticktext = log_ticks(low, high, metric)
    heat = dict(
        type="heatmap",
        x=starts + ends[-1:],  # the cells' edges: each cell spans its bucket
        y=shown,
        z=z.tolist(),
        zmin=low,
        zmax=high,
        text=text,
        customdata=[[label] * len(buckets) for label in labels],
        # With edges for x, plotly hovers a cell's centre: formats that name the bucket from its centre.
        xhoverformat=CELL_HOVER_FORMATS.get(buckets.unit, CELL_HOVER_FORMATS["day"]),
        hovertemplate=f"%{{x}}<br>%{{y}}: %{{text}}<br>{what} per {buckets.unit}<extra></extra>",
        colorscale="Viridis",
        showscale=True,
        colorbar=dict(
            title=dict(text=f"{'bytes' if metric == 'bytes' else 'ops'}<br>per {buckets.unit}", font=dict(size=10)),
            thickness=10,
            tickvals=tickvals,
            ticktext=ticktext,
            tickfont=dict(size=10),
        ),
        hoverongaps=False,
    )
    chosen = set(selected)
    ticks = [fmt.plot_text(short_size(label)) for label in labels]
    return dict(
        data=[heat],
        layout=base_layout(
            height=320,
            dragmode="zoom",
            clickmode="event",
            shapes=_marks(buckets, starts, ends),
            yaxis=axis(
                type="category",
                fixedrange=True,
                tickvals=shown,
                tickfont=dict(size=10),
                ticktext=[f"<b>{tick}</b>" if label in chosen else tick for label, tick in zip(labels, ticks)],
            ),
            xaxis=axis(type="date", title=title(None)),
        ),
    )
