"""Pure figure builders: plain data in, a plotly Figure out. No database, no Dash, no callbacks.

Conventions every figure follows:
* each cross-filter dimension has one color (DIMENSION_COLORS), used wherever it is drawn;
* when a dimension has a selection, its selected bars are drawn solid with an outline and the
  others faded, so the panel still shows the whole ranking (the crossfilter convention);
* every clickable mark carries its value in `customdata`, which the click handler reads;
* no data never means a blank chart: `empty_figure` says why there is nothing to draw;
* times arrive as UTC epochs and are drawn as wall-clock times in the display zone.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from clusterdash.web import format as fmt

DIMENSION_COLORS = {
    "users": "#2563eb",
    "machines": "#0d9488",
    "machine_types": "#7c3aed",
    "roles": "#d97706",
    "sizes": "#16a34a",
}
# The stacked series: distinct, colour-blind-friendly hues (Tableau 10) and a neutral grey for "other".
SERIES_PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
                  "#9c755f", "#86bcb6", "#8cd17d", "#b6992d", "#499894", "#d37295", "#fabfd2")
OTHER = "other"
OTHER_COLOR = "#bab0ac"
FADED_OPACITY = 0.3
SMALL_IO_BYTES = 4096
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"


def base_layout(**overrides) -> dict:
    layout = dict(
        margin=dict(l=8, r=8, t=8, b=8),
        font=dict(family=FONT, size=12, color="#212529"),
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        showlegend=False,
        hoverlabel=dict(font=dict(family=FONT)),
        xaxis=dict(automargin=True, gridcolor="#e9ecef", zeroline=False),
        yaxis=dict(automargin=True, gridcolor="#e9ecef", zeroline=False),
    )
    layout.update(overrides)
    return layout


def empty_figure(message: str, height: int | None = None) -> go.Figure:
    """A figure that says why there is nothing to draw (never a blank, axis-only chart)."""
    figure = go.Figure(layout=base_layout(height=height))
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    figure.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                          font=dict(size=14, color="#6c757d"))
    return figure


def local_times(epochs: Sequence[int] | pd.Series, tz: str) -> pd.Series:
    """UTC epochs as naive wall-clock times in `tz`: plotly draws dates without a zone."""
    stamps = pd.to_datetime(pd.Series(epochs, dtype="int64"), unit="s", utc=True)
    return stamps.dt.tz_convert(tz).dt.tz_localize(None)


def epoch_from_local(text: str, tz: str) -> int:
    """Back from an axis value (wall-clock text in `tz`, as plotly reports a dragged range) to a UTC epoch."""
    stamp = pd.Timestamp(text)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(tz, ambiguous=True, nonexistent="shift_forward")
    return int(stamp.timestamp())


def _metric_axis(values: pd.Series, metric: str) -> tuple[pd.Series, str, str]:
    """(values to draw, axis title, hover unit): bytes are scaled to one binary unit so ticks read plainly."""
    if metric == "bytes":
        divisor, unit = fmt.byte_scale(float(values.max()) if len(values) else 0.0)
        return values / divisor, f"{unit}, estimated (midpoint)", unit
    return values, "operations", ""


def _hover_texts(values: pd.Series, metric: str) -> list[str]:
    return [fmt.metric_value(v, metric) for v in values]


def _highlight(names: Sequence[str], selected: Sequence[str], color: str) -> dict:
    """Marker styling: with a selection, selected bars solid and outlined, the rest faded."""
    if not selected:
        return dict(color=color)
    chosen = set(selected)
    return dict(color=color,
                opacity=[1.0 if n in chosen else FADED_OPACITY for n in names],
                line=dict(color=["#212529" if n in chosen else color for n in names], width=1.5))


def ranking_bar(data: pd.DataFrame, dimension: str, metric: str, selected: Sequence[str] = (),
                group_column: str | None = None, empty_message: str = "No data for this selection") -> go.Figure:
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
    values, title, _ = _metric_axis(data["value"], metric)
    figure = go.Figure(go.Bar(
        x=values, y=y, orientation="h", customdata=data["name"],
        marker=_highlight(data["name"].tolist(), selected, DIMENSION_COLORS[dimension]),
        hovertext=[f"{n}: {t}" for n, t in zip(data["name"], _hover_texts(data["value"], metric))],
        hoverinfo="text",
    ))
    height = max(160, 22 * len(data) + 60)
    figure.update_layout(base_layout(height=height, bargap=0.25, clickmode="event"))
    figure.update_xaxes(title=dict(text=title, font=dict(size=11)), side="top")
    figure.update_yaxes(type="multicategory" if group_column else "category", automargin=True, gridcolor="rgba(0,0,0,0)")
    return figure


def size_distribution(data: pd.DataFrame, metric: str, selected: Sequence[str] = (),
                      empty_message: str = "No data for this selection") -> go.Figure:
    """Vertical bars per size bucket, smallest bucket left. `data` has columns label, lower (bytes), value."""
    if data is None or data.empty or not data["value"].any():
        return empty_figure(empty_message)
    data = data.sort_values("lower", na_position="first")
    values, title, _ = _metric_axis(data["value"], metric)
    marker = _highlight(data["label"].tolist(), selected, DIMENSION_COLORS["sizes"])
    figure = go.Figure(go.Bar(
        x=data["label"], y=values, customdata=data["label"], marker=marker,
        hovertext=[f"{label}: {text}" for label, text in zip(data["label"], _hover_texts(data["value"], metric))],
        hoverinfo="text",
    ))
    small = data[(data["lower"].fillna(-1) < SMALL_IO_BYTES)]
    if 0 < len(small) < len(data):
        # A dashed line where "small IO" (< 4 KiB) ends: the headline share counts the bars left of it.
        figure.add_vline(x=len(small) - 0.5, line=dict(color="#adb5bd", dash="dash", width=1))
    figure.update_layout(base_layout(height=260, bargap=0.15, clickmode="event"))
    figure.update_xaxes(type="category", title=dict(text="IO size (bucket)", font=dict(size=11)), tickangle=-45)
    figure.update_yaxes(title=dict(text=title, font=dict(size=11)))
    return figure


def stacked_series(data: pd.DataFrame, metric: str, tz: str, step_seconds: int,
                   gaps: Sequence[tuple[int, int]] = (), empty_message: str = "No data for this selection") -> go.Figure:
    """Stacked areas over time, one per series (the top N, then "other" last). `data` has columns epoch (bucket
    start), series, value; series are stacked in their order of first appearance, largest first."""
    if data is None or data.empty or not data["value"].any():
        return empty_figure(empty_message, height=300)
    totals = data.groupby("series", sort=False)["value"].sum()
    order = [s for s in totals.sort_values(ascending=False).index if s != OTHER] + ([OTHER] if OTHER in totals else [])
    values, title, _ = _metric_axis(data["value"], metric)
    data = data.assign(scaled=values)
    # Every series on the same time grid, so the stack has no holes; missing steps are zero IO for that series.
    grid = sorted(data["epoch"].unique())
    times = local_times(grid, tz)
    figure = go.Figure()
    for index, name in enumerate(order):
        part = data[data["series"] == name].set_index("epoch")
        scaled = part["scaled"].reindex(grid, fill_value=0)
        raw = part["value"].reindex(grid, fill_value=0)
        color = OTHER_COLOR if name == OTHER else SERIES_PALETTE[index % len(SERIES_PALETTE)]
        figure.add_trace(go.Scatter(
            x=times, y=scaled, name=str(name), stackgroup="one", mode="lines", line=dict(width=0.5, color=color),
            fillcolor=color, customdata=[str(name)] * len(grid),
            hovertemplate="%{x}<br>" + str(name) + ": %{text}<extra></extra>",
            text=_hover_texts(raw, metric),
        ))
    for start, end in gaps:
        # A gap is "no data", not "zero IO": shade it so a dip is not read as a quiet hour.
        gap_times = local_times([start, end], tz)
        figure.add_vrect(x0=gap_times.iloc[0], x1=gap_times.iloc[1], fillcolor="#adb5bd", opacity=0.25,
                         line_width=0, layer="below")
    figure.update_layout(base_layout(
        height=320, showlegend=True, hovermode="x unified", dragmode="zoom",
        legend=dict(orientation="h", yanchor="top", y=-0.12, x=0, font=dict(size=11)),
    ))
    figure.update_xaxes(title=None)
    figure.update_yaxes(title=dict(text=title, font=dict(size=11)), fixedrange=True)
    return figure


def size_heatmap(data: pd.DataFrame, metric: str, tz: str, selected: Sequence[str] = (),
                 empty_message: str = "No data for this selection") -> go.Figure:
    """IO size bucket (rows, smallest at the bottom) x time (columns); colour is log-scaled, since one heavy
    bucket would otherwise wash out the rest. `data` has columns epoch, label, lower, value."""
    if data is None or data.empty or not data["value"].any():
        return empty_figure(empty_message, height=300)
    labels = data.drop_duplicates("label").sort_values("lower", na_position="first")["label"].tolist()
    grid = sorted(data["epoch"].unique())
    table = data.pivot_table(index="label", columns="epoch", values="value", aggfunc="sum").reindex(
        index=labels, columns=grid)
    positive = table.where(table > 0)
    log_z = np.log10(positive.to_numpy(dtype=float))  # NaN (no IO) stays NaN and is drawn as a hole
    text = [[fmt.metric_value(v, metric) if not pd.isna(v) else "no IO" for v in row] for row in positive.to_numpy()]
    figure = go.Figure(go.Heatmap(
        x=local_times(grid, tz), y=labels, z=log_z, text=text, customdata=[[label] * len(grid) for label in labels],
        hovertemplate="%{x}<br>%{y}: %{text}<extra></extra>", colorscale="Viridis", showscale=True,
        colorbar=dict(title=dict(text=f"log10<br>{'bytes' if metric == 'bytes' else 'ops'}", font=dict(size=10)),
                      thickness=10),
        hoverongaps=False,
    ))
    figure.update_layout(base_layout(height=320, dragmode="zoom", clickmode="event"))
    figure.update_yaxes(type="category", fixedrange=True, title=None,
                        ticktext=[f"<b>{label}</b>" if label in selected else label for label in labels],
                        tickvals=labels)
    figure.update_xaxes(title=None)
    return figure
