"""Pure figure builders: plain data in, a plotly figure out. No database, no Dash, no callbacks.

Conventions every figure follows:
* each cross-filter dimension has one color (colors.DIMENSION_COLORS), used wherever it is drawn; a chart of
  several series colours each by its name (colors.series_colors), so a user has one colour in every view;
* every text plotly draws that comes from data (category labels and ticks, legend names, hover text,
  annotations) goes through `format.plot_text`: plotly reads a subset of HTML in text, and a name is data;
* every clickable mark carries its raw value in `customdata`, which the click handler reads (never escaped:
  a click selects the real name);
* when a dimension has a selection, its selected bars are drawn solid with an outline and the
  others faded, so the panel still shows the whole ranking (the crossfilter convention);
* a list cut to its top N says so ("top 20 of 93 users");
* counts are drawn on integer axes with SI ticks (format.COUNT_TICKFORMAT), as `format.count` writes them;
* no data never means a blank chart: `empty_figure` says why there is nothing to draw;
* times arrive as UTC epochs and are drawn as wall-clock times in the display zone (timecharts.py);
* a figure is a plain dict in plotly's JSON shape, not a graph_objects.Figure: building the validated
  objects cost more than the query behind them (100+ ms for a stacked series). The tests validate
  every figure by loading it into go.Figure, so the dicts stay correct.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import pandas as pd

from clusterdash.web import format as fmt
from clusterdash.web.colors import DIMENSION_COLORS

FADED_OPACITY = 0.3
SMALL_IO_BYTES = 4096
SMALL_COUNT_AXIS = 10  # a count axis up to this many has a tick at every whole number, so never one at 0.5
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
NOTE_COLOR = "#6c757d"


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


def axis(**settings) -> dict:
    return {"automargin": True, "gridcolor": "#e9ecef", "zeroline": False, **settings}


def title(text: str | None) -> dict:
    return dict(text=text, font=dict(size=11)) if text else dict(text="")


def value_axis(largest: float, metric: str, per: str = "") -> tuple[float, dict]:
    """(divisor, axis settings) for an axis of the metric whose largest value is `largest`. Bytes are scaled to
    one binary unit so ticks read plainly; counts get SI ticks on whole numbers. `per` names the time bucket
    ("hour"): the axis then says "operations per hour"."""
    per_text = f" per {per}" if per else ""
    if metric == "bytes":
        divisor, unit = fmt.byte_scale(largest)
        # Scaled so the largest reads 1..1023: plain numbers ("1,000", never "1k GiB").
        settings = axis(title=title(f"{unit}{per_text}, estimated (midpoint)"), rangemode="tozero", tickformat=",~g")
        return divisor, settings
    settings = axis(title=title(f"operations{per_text}"), rangemode="tozero", tickformat=fmt.COUNT_TICKFORMAT)
    if largest <= SMALL_COUNT_AXIS:
        settings.update(tick0=0, dtick=1)
    return 1.0, settings


def amount(value: float | None, metric: str) -> str:
    """A value as a hover label says it: '3 GiB', '12.3k operations'."""
    return fmt.size(value) if metric == "bytes" else f"{fmt.count(value)} operations"


def note_annotation(text: str) -> dict:
    """A short grey note under a chart ("top 20 of 93 users")."""
    return dict(
        text=fmt.plot_text(text),
        x=0,
        y=0,
        xref="paper",
        yref="paper",
        xanchor="left",
        yanchor="top",
        yshift=-6,
        showarrow=False,
        font=dict(size=11, color=NOTE_COLOR),
    )


def empty_figure(message: str, height: int | None = None) -> Figure:
    """A figure that says why there is nothing to draw (never a blank, axis-only chart). The message is wrapped
    so it also fits the narrow side charts."""
    text = "<br>".join(fmt.plot_text(line) for line in textwrap.wrap(message, 26))
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
                    font=dict(size=14, color=NOTE_COLOR),
                )
            ],
        ),
    )


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


def short_size(label: str) -> str:
    """A bucket's lower bound as an axis tick: '[4K, 8K)' -> '4K', '[0]' -> '0', '(..., 0)' -> '<0'."""
    if label.startswith("("):
        return "<0"
    return label.strip("[]()").split(",")[0].strip()


def highlight(names: Sequence[str], selected: Sequence[str], color: str) -> dict:
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
    note: str = "",
    labels: Sequence[str] | None = None,
) -> Figure:
    """Horizontal bars, largest on top. `data` has columns name, value (and `group_column`, e.g. machine_type,
    to group the bars under their group's name on a second axis level). `note` is shown under the bars (say
    there that the list is cut: "top 20 of 93 users"). `labels`: what each bar is called, when not its name
    (a job: "123 · alice"); a click still selects the name."""
    if labels is not None:
        data = data.assign(_label=list(labels))
    if data is None or data.empty or not data["value"].any():
        return empty_figure(empty_message)
    data = data[data["value"] > 0]
    if group_column:
        group_totals = data.groupby(group_column)["value"].transform("sum")
        data = data.assign(_g=group_totals).sort_values(["_g", group_column, "value"], ascending=[True, True, True])
    else:
        data = data.sort_values("value", ascending=True)
    names = data["name"].tolist()
    shown = [fmt.plot_text(n) for n in (data["_label"].tolist() if labels is not None else names)]
    y = [[fmt.plot_text(g) for g in data[group_column]], shown] if group_column else shown
    divisor, x_axis = value_axis(float(data["value"].max()), metric)
    bar = dict(
        type="bar",
        x=(data["value"] / divisor).tolist(),
        y=y,
        orientation="h",
        customdata=names,
        marker=highlight(names, selected, DIMENSION_COLORS[dimension]),
        hovertext=[f"{n}: {amount(v, metric)}" for n, v in zip(shown, data["value"].tolist())],
        hoverinfo="text",
    )
    return dict(
        data=[bar],
        layout=base_layout(
            height=max(160, 22 * len(data) + 60) + (20 if note else 0),
            margin=dict(l=8, r=8, t=8, b=28 if note else 8),
            bargap=0.25,
            clickmode="event",
            annotations=[note_annotation(note)] if note else [],
            xaxis={**x_axis, "side": "top"},
            yaxis=axis(type="multicategory" if group_column else "category", gridcolor="rgba(0,0,0,0)"),
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
    shown = [fmt.plot_text(label) for label in labels]
    divisor, y_axis = value_axis(float(data["value"].max()), metric)
    bar = dict(
        type="bar",
        x=shown,
        y=(data["value"] / divisor).tolist(),
        customdata=labels,
        marker=highlight(labels, selected, DIMENSION_COLORS["sizes"]),
        hovertext=[f"{label}: {amount(v, metric)}" for label, v in zip(shown, data["value"].tolist())],
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
            xaxis=axis(
                type="category",
                title=title("IO size (bucket lower bound, bytes)"),
                tickangle=-45,
                tickvals=shown,
                ticktext=[fmt.plot_text(short_size(label)) for label in labels],
                tickfont=dict(size=10),
            ),
            yaxis=y_axis,
        ),
    )
