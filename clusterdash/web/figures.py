"""Pure figure builders: plain data in, a plotly Figure out. No database, no Dash, no callbacks.

Conventions every figure follows:
* each cross-filter dimension has one color (DIMENSION_COLORS), used wherever it is drawn;
* when a dimension has a selection, its selected bars are drawn solid with an outline and the
  others faded, so the panel still shows the whole ranking (the crossfilter convention);
* every clickable mark carries its value in `customdata`, which the click handler reads;
* no data never means a blank chart: `empty_figure` says why there is nothing to draw;
* times arrive as UTC epochs and are drawn as wall-clock times in the display zone;
* a figure is a plain dict in plotly's JSON shape, not a graph_objects.Figure: building the validated
  objects cost more than the query behind them (100+ ms for a stacked series). The tests validate
  every figure by loading it into go.Figure, so the dicts stay correct.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd

from clusterdash.web import format as fmt

DIMENSION_COLORS = {
    "users": "#2563eb",
    "machines": "#0d9488",
    "machine_types": "#7c3aed",
    "roles": "#d97706",
    "sizes": "#16a34a",
}
# The stacked series: distinct, colour-blind-friendly hues (Tableau 10) and a neutral grey for "other".
SERIES_PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#86bcb6",
    "#8cd17d",
    "#b6992d",
    "#499894",
    "#d37295",
    "#fabfd2",
)
OTHER = "other"
OTHER_COLOR = "#bab0ac"
FADED_OPACITY = 0.3
SMALL_IO_BYTES = 4096
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"


Figure = dict  # plotly's JSON shape: {"data": [trace, ...], "layout": {...}}


def base_layout(**overrides) -> dict:
    layout = dict(
        margin=dict(l=8, r=8, t=8, b=8),
        font=dict(family=FONT, size=12, color="#212529"),
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        showlegend=False,
        hoverlabel=dict(font=dict(family=FONT)),
    )
    layout.update(overrides)
    return layout


def _axis(**settings) -> dict:
    return {"automargin": True, "gridcolor": "#e9ecef", "zeroline": False, **settings}


def _title(text: str | None) -> dict:
    return dict(text=text, font=dict(size=11)) if text else dict(text="")


def empty_figure(message: str, height: int | None = None) -> Figure:
    """A figure that says why there is nothing to draw (never a blank, axis-only chart). The message is wrapped
    so it also fits the narrow side charts."""
    text = "<br>".join(textwrap.wrap(message, 26))
    return dict(
        data=[],
        layout=base_layout(
            height=height or 200,
            xaxis=dict(visible=False),
            yaxis=dict(visible=False),
            annotations=[
                dict(
                    text=text,
                    x=0.5,
                    y=0.5,
                    xref="paper",
                    yref="paper",
                    showarrow=False,
                    font=dict(size=14, color="#6c757d"),
                )
            ],
        ),
    )


def local_times(epochs: Sequence[int] | pd.Series, tz: str) -> pd.Series:
    """UTC epochs as naive wall-clock times in `tz`: plotly draws dates without a zone."""
    stamps = pd.to_datetime(pd.Series(epochs, dtype="int64"), unit="s", utc=True)
    return stamps.dt.tz_convert(tz).dt.tz_localize(None)


def _time_texts(epochs: Sequence[int], tz: str) -> list[str]:
    return local_times(epochs, tz).dt.strftime("%Y-%m-%d %H:%M").tolist()


def epoch_from_local(text: str, tz: str) -> int:
    """Back from an axis value (wall-clock text in `tz`, as plotly reports a dragged range) to a UTC epoch."""
    stamp = pd.Timestamp(text)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(tz, ambiguous=True, nonexistent="shift_forward")
    return int(stamp.timestamp())


def short_size(label: str) -> str:
    """A bucket's lower bound as an axis tick: '[4K, 8K)' -> '4K', '[0]' -> '0', '(..., 0)' -> '<0'."""
    if label.startswith("("):
        return "<0"
    return label.strip("[]()").split(",")[0].strip()


def _metric_axis(values: pd.Series, metric: str) -> tuple[list[float], str]:
    """(values to draw, axis title): bytes are scaled to one binary unit so ticks read plainly."""
    if metric == "bytes":
        divisor, unit = fmt.byte_scale(float(values.max()) if len(values) else 0.0)
        return (values / divisor).tolist(), f"{unit}, estimated (midpoint)"
    return values.tolist(), "operations"


def _hover_texts(values, metric: str) -> list[str]:
    return [fmt.metric_value(v, metric) for v in values]


def _highlight(names: Sequence[str], selected: Sequence[str], color: str) -> dict:
    """Marker styling: with a selection, selected bars solid and outlined, the rest faded."""
    if not selected:
        return dict(color=color)
    chosen = set(selected)
    return dict(
        color=color,
        opacity=[1.0 if n in chosen else FADED_OPACITY for n in names],
        line=dict(color=["#212529" if n in chosen else color for n in names], width=1.5),
    )


def ranking_bar(
    data: pd.DataFrame,
    dimension: str,
    metric: str,
    selected: Sequence[str] = (),
    group_column: str | None = None,
    empty_message: str = "No data for this selection",
) -> Figure:
    """Horizontal bars, largest on top. `data` has columns name, value (and `group_column`, e.g. machine_type,
    to group the bars under their group's name on a second axis level)."""
    if data is None or data.empty or not data["value"].any():
        return empty_figure(empty_message)
    data = data[data["value"] > 0]
    if group_column:
        group_totals = data.groupby(group_column)["value"].transform("sum")
        data = data.assign(_g=group_totals).sort_values(["_g", group_column, "value"], ascending=[True, True, True])
        y = [data[group_column].astype(str).tolist(), data["name"].tolist()]
    else:
        data = data.sort_values("value", ascending=True)
        y = data["name"].tolist()
    names = data["name"].tolist()
    values, title = _metric_axis(data["value"], metric)
    bar = dict(
        type="bar",
        x=values,
        y=y,
        orientation="h",
        customdata=names,
        marker=_highlight(names, selected, DIMENSION_COLORS[dimension]),
        hovertext=[f"{n}: {t}" for n, t in zip(names, _hover_texts(data["value"], metric))],
        hoverinfo="text",
    )
    return dict(
        data=[bar],
        layout=base_layout(
            height=max(160, 22 * len(data) + 60),
            bargap=0.25,
            clickmode="event",
            xaxis=_axis(title=_title(title), side="top"),
            yaxis=_axis(type="multicategory" if group_column else "category", gridcolor="rgba(0,0,0,0)"),
        ),
    )


def size_distribution(
    data: pd.DataFrame, metric: str, selected: Sequence[str] = (), empty_message: str = "No data for this selection"
) -> Figure:
    """Vertical bars per size bucket, smallest bucket left. `data` has columns label, lower (bytes), value."""
    if data is None or data.empty or not data["value"].any():
        return empty_figure(empty_message)
    data = data.sort_values("lower", na_position="first")
    labels = data["label"].tolist()
    values, title = _metric_axis(data["value"], metric)
    bar = dict(
        type="bar",
        x=labels,
        y=values,
        customdata=labels,
        marker=_highlight(labels, selected, DIMENSION_COLORS["sizes"]),
        hovertext=[f"{label}: {text}" for label, text in zip(labels, _hover_texts(data["value"], metric))],
        hoverinfo="text",
    )
    shapes = []
    small = int((data["lower"].fillna(-1) < SMALL_IO_BYTES).sum())
    if 0 < small < len(data):
        # A dashed line where "small IO" (< 4 KiB) ends: the headline share counts the bars left of it.
        shapes.append(
            dict(
                type="line",
                x0=small - 0.5,
                x1=small - 0.5,
                y0=0,
                y1=1,
                xref="x",
                yref="paper",
                line=dict(color="#adb5bd", dash="dash", width=1),
            )
        )
    return dict(
        data=[bar],
        layout=base_layout(
            height=260,
            bargap=0.15,
            clickmode="event",
            shapes=shapes,
            xaxis=_axis(
                type="category",
                title=_title("IO size (bucket lower bound, bytes)"),
                tickangle=-45,
                tickvals=labels,
                ticktext=[short_size(label) for label in labels],
                tickfont=dict(size=10),
            ),
            yaxis=_axis(title=_title(title)),
        ),
    )


def stacked_series(
    data: pd.DataFrame,
    metric: str,
    tz: str,
    step_seconds: int,
    gaps: Sequence[tuple[int, int]] = (),
    empty_message: str = "No data for this selection",
) -> Figure:
    """Stacked areas over time, one per series (largest first, "other" last and grey). `data` has columns
    epoch (bucket start), series, value. Gaps (start, end epochs without any data) are shaded."""
    if data is None or data.empty or not data["value"].any():
        return empty_figure(empty_message, height=300)
    totals = data.groupby("series", sort=False)["value"].sum()
    order = [s for s in totals.sort_values(ascending=False).index if s != OTHER] + ([OTHER] if OTHER in totals else [])
    values, title = _metric_axis(data["value"], metric)
    # Every series on one time grid, so the stack has no holes: a missing step is zero IO for that series.
    wide = (
        data.assign(scaled=values)
        .pivot_table(index="epoch", columns="series", values=["scaled", "value"], aggfunc="sum", fill_value=0)
        .sort_index()
    )
    times = _time_texts(wide.index.tolist(), tz)
    traces = []
    for index, name in enumerate(order):
        color = OTHER_COLOR if name == OTHER else SERIES_PALETTE[index % len(SERIES_PALETTE)]
        traces.append(
            dict(
                type="scatter",
                x=times,
                y=wide["scaled"][name].tolist(),
                name=str(name),
                stackgroup="one",
                mode="lines",
                line=dict(width=0.5, color=color),
                fillcolor=color,
                hovertemplate="%{x}<br>%{fullData.name}: %{text}<extra></extra>",
                text=_hover_texts(wide["value"][name], metric),
            )
        )
    # A gap is "no data", not "zero IO": shade it so a dip is not read as a quiet hour.
    shapes = [
        dict(
            type="rect",
            x0=x0,
            x1=x1,
            y0=0,
            y1=1,
            xref="x",
            yref="paper",
            fillcolor="#adb5bd",
            opacity=0.25,
            line=dict(width=0),
            layer="below",
        )
        for x0, x1 in (_time_texts([start, end], tz) for start, end in gaps)
    ]
    return dict(
        data=traces,
        layout=base_layout(
            height=320,
            showlegend=True,
            hovermode="x unified",
            dragmode="zoom",
            shapes=shapes,
            legend=dict(orientation="h", yanchor="top", y=-0.12, x=0, font=dict(size=11)),
            xaxis=_axis(type="date"),
            yaxis=_axis(title=_title(title), fixedrange=True),
        ),
    )


def size_heatmap(
    data: pd.DataFrame,
    metric: str,
    tz: str,
    selected: Sequence[str] = (),
    empty_message: str = "No data for this selection",
    grid: Sequence[int] = (),
    gaps: Sequence[int] = (),
) -> Figure:
    """IO size bucket (rows, smallest at the bottom) x time (columns); colour is log-scaled, since one heavy
    bucket would otherwise wash out the rest. `data` has columns epoch, label, lower, value. `grid` lists every
    time bucket (so an hour without data is an empty column, not squeezed out); `gaps` are those without a block."""
    if data is None or data.empty or not data["value"].any():
        return empty_figure(empty_message, height=300)
    labels = data.drop_duplicates("label").sort_values("lower", na_position="first")["label"].tolist()
    grid = sorted(set(grid) | set(data["epoch"].unique().tolist()))
    gap_columns = set(gaps)
    table = data.pivot_table(index="label", columns="epoch", values="value", aggfunc="sum").reindex(
        index=labels, columns=grid
    )
    positive = table.where(table > 0).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_z = np.log10(positive)
    # NaN (no IO) becomes null: drawn as a hole, not as zero.
    z = [[None if np.isnan(v) else round(float(v), 4) for v in row] for row in log_z]
    text = [
        [
            "no data (gap)" if epoch in gap_columns else "no IO" if np.isnan(v) else fmt.metric_value(v, metric)
            for epoch, v in zip(grid, row)
        ]
        for row in positive
    ]
    heat = dict(
        type="heatmap",
        x=_time_texts(grid, tz),
        y=labels,
        z=z,
        text=text,
        customdata=[[label] * len(grid) for label in labels],
        hovertemplate="%{x}<br>%{y}: %{text}<extra></extra>",
        colorscale="Viridis",
        showscale=True,
        colorbar=dict(
            title=dict(text=f"log10<br>{'bytes' if metric == 'bytes' else 'ops'}", font=dict(size=10)), thickness=10
        ),
        hoverongaps=False,
    )
    return dict(
        data=[heat],
        layout=base_layout(
            height=320,
            dragmode="zoom",
            clickmode="event",
            yaxis=_axis(
                type="category",
                fixedrange=True,
                tickvals=labels,
                tickfont=dict(size=10),
                ticktext=[
                    f"<b>{short_size(label)}</b>" if label in selected else short_size(label) for label in labels
                ],
            ),
            xaxis=_axis(type="date"),
        ),
    )
