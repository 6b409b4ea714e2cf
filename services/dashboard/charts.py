"""Step charts as SVG geometry, computed on the server: no chart library and no script.

The template draws what ``step_chart`` returns; every number in it is already in SVG user
units, so the markup stays a plain rendering.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# Drawn at about its own width in the page's column, so 13-unit text stays readable.
WIDTH = 600
HEIGHT = 220
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 14, 34


@dataclass(frozen=True)
class Tick:
    position: float
    label: str
    anchor: str = "middle"  # SVG text-anchor: the outermost labels stay inside the chart


@dataclass(frozen=True)
class StepChart:
    width: int
    height: int
    line: str  # the path's "d"
    area: str
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    first: int
    last: int
    maximum: int


def nice_maximum(value: int) -> int:
    """The smallest of 1, 2, 5 × 10^n that is at least ``value`` (at least 1)."""
    if value <= 1:
        return 1
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if step * magnitude >= value:
                return step * magnitude
        magnitude *= 10


def step_chart(
    series: Sequence[tuple[dt.date, int]],
    date_label: Callable[[dt.date], str],
    x_tick_count: int = 5,
) -> StepChart | None:
    """Geometry of a step line through daily counts; None when there is nothing to draw.

    ``date_label`` formats a date for the x axis (the page's language decides how)."""
    if not series:
        return None
    days = len(series)
    top_value = nice_maximum(max(count for _, count in series))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(index: float) -> float:
        return round(LEFT + plot_w * (index / max(days - 1, 1)), 1)

    def y(count: int) -> float:
        return round(TOP + plot_h * (1 - count / top_value), 1)

    points: list[str] = [f"M{x(0)},{y(series[0][1])}"]
    for index in range(1, days):
        previous, current = series[index - 1][1], series[index][1]
        if current != previous:
            points.append(f"H{x(index)}V{y(current)}")
    points.append(f"H{x(days - 1)}")
    line = "".join(points)
    area = f"{line}V{y(0)}H{x(0)}Z"

    spread = max(x_tick_count - 1, 1)
    tick_indexes = sorted({round(i * (days - 1) / spread) for i in range(x_tick_count)})
    last = tick_indexes[-1]
    x_ticks = [
        Tick(
            x(i),
            date_label(series[i][0]),
            "start" if i == 0 and last else "end" if i == last and last else "middle",
        )
        for i in tick_indexes
    ]
    y_values = sorted({0, top_value // 2, top_value}) if top_value > 1 else [0, 1]
    y_ticks = [Tick(y(v), str(v)) for v in y_values]
    return StepChart(
        width=WIDTH,
        height=HEIGHT,
        line=line,
        area=area,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        plot_left=LEFT,
        plot_right=WIDTH - RIGHT,
        plot_top=TOP,
        plot_bottom=HEIGHT - BOTTOM,
        first=series[0][1],
        last=series[-1][1],
        maximum=max(count for _, count in series),
    )


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    maximum: int
    total: int


def bar_chart(series: Sequence[tuple[str, int]], x_tick_count: int = 6) -> BarChart | None:
    """Geometry of one bar per labelled count (a month's uses); None when there is nothing."""
    if not series:
        return None
    top_value = nice_maximum(max(count for _, count in series))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(series)
    bar_w = round(slot * 0.7, 1)
    bars = []
    for index, (label, count) in enumerate(series):
        height = round(plot_h * max(count, 0) / top_value, 1)
        x = round(LEFT + slot * index + (slot - bar_w) / 2, 1)
        bars.append(Bar(x, round(TOP + plot_h - height, 1), bar_w, height, label, count))
    step = max(1, -(-len(series) // x_tick_count))  # ceil: at most x_tick_count labels
    x_ticks = [
        Tick(round(LEFT + slot * (i + 0.5), 1), series[i][0]) for i in range(0, len(series), step)
    ]
    y_values = sorted({0, top_value // 2, top_value}) if top_value > 1 else [0, 1]
    y_ticks = [Tick(round(TOP + plot_h * (1 - v / top_value), 1), str(v)) for v in y_values]
    return BarChart(
        width=WIDTH,
        height=HEIGHT,
        bars=bars,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        plot_left=LEFT,
        plot_right=WIDTH - RIGHT,
        plot_top=TOP,
        plot_bottom=HEIGHT - BOTTOM,
        maximum=max(count for _, count in series),
        total=sum(count for _, count in series),
    )
