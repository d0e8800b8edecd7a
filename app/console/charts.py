"""Geometry for the dashboard's server-rendered SVG bar charts.

The CSP forbids scripts and inline styles, so a chart is plain `<rect>`, `<line>` and `<text>`
elements placed by attributes alone; these functions work out where. Coordinates are in the
chart's own viewBox units; CSS scales the `<svg>` to its container.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Anchor = Literal["start", "middle", "end"]


@dataclass(frozen=True)
class Bar:
    """One `<rect>`; `title` becomes its tooltip."""

    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Label:
    """One `<text>`."""

    x: float
    y: float
    text: str
    anchor: Anchor = "middle"


@dataclass(frozen=True)
class Line:
    """One `<line>`."""

    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True)
class Series:
    """A named row of values drawn in one colour (`css`: the bar's class)."""

    name: str
    values: Sequence[int]
    css: str = "bar"


@dataclass(frozen=True)
class BarChart:
    """Everything the template draws for one chart."""

    title: str
    width: int
    height: int
    bars: list[Bar] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    """Category labels (and, for horizontal charts, the values at the bars' ends)."""
    ticks: list[Label] = field(default_factory=list)
    """Value-axis labels."""
    grid: list[Line] = field(default_factory=list)
    axes: list[Line] = field(default_factory=list)
    legend: list[Series] = field(default_factory=list)

    @property
    def view_box(self) -> str:
        return f"0 0 {self.width} {self.height}"

    @property
    def empty(self) -> bool:
        """Nothing to draw: every value is zero."""
        return not self.bars


def _r(value: float) -> float:
    return round(value, 1)


def nice_ceiling(value: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that is at least `value` (1 for 0 or less)."""
    if value <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= value:
            return int(factor * magnitude)
    return int(10 * magnitude)  # pragma: no cover - the loop always returns


def value_scale(maximum: int, *, ticks: int = 4) -> tuple[int, int]:
    """`(top, step)` of an integer value axis: about `ticks` round steps up to `top >= maximum`."""
    step = nice_ceiling(math.ceil(maximum / ticks)) if maximum > 0 else 1
    top = max(step, step * math.ceil(maximum / step))
    return top, step


def column_chart(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    width: int = 640,
    height: int = 240,
    max_labels: int = 12,
    tooltips: Sequence[str] | None = None,
) -> BarChart:
    """Vertical bars, one group per category and one bar per series in each group.

    Only every k-th category is labelled so that at most `max_labels` labels show;
    `tooltips` (one per category) name the category in the bars' tooltips.
    """
    left, right, top_pad, bottom = 44.0, 8.0, 10.0, 26.0
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    base = top_pad + plot_h
    count = len(categories)
    maximum = max((v for s in series for v in s.values), default=0)
    top, step = value_scale(maximum)
    chart = BarChart(title=title, width=width, height=height, legend=list(series))
    for value in range(0, top + 1, step):
        y = _r(base - plot_h * value / top)
        chart.ticks.append(Label(left - 6, _r(y + 4), f"{value:,}", "end"))
        if value:
            chart.grid.append(Line(left, y, width - right, y))
    chart.axes.append(Line(left, base, width - right, base))
    if count == 0:
        return chart
    group = plot_w / count
    inner = group * 0.8 / max(1, len(series))
    every = max(1, math.ceil(count / max_labels))
    names = tooltips or categories
    for i, category in enumerate(categories):
        x0 = left + group * i + group * 0.1
        for j, one in enumerate(series):
            value = one.values[i] if i < len(one.values) else 0
            if value <= 0:
                continue
            h = plot_h * value / top
            chart.bars.append(
                Bar(
                    _r(x0 + inner * j),
                    _r(base - h),
                    _r(max(inner - 1, 1)),
                    _r(h),
                    one.css,
                    f"{names[i]}: {value:,} {one.name}",
                )
            )
        if i % every == 0:
            chart.labels.append(Label(_r(left + group * (i + 0.5)), base + 16, category))
    return chart


def bar_list(
    items: Sequence[tuple[str, int]],
    *,
    title: str,
    width: int = 640,
    row: int = 26,
    label_width: int = 180,
    css: str = "bar",
) -> BarChart:
    """Horizontal bars, one per `(label, value)`, the label on the left and the value at the
    bar's end; the longest bar fills the width."""
    value_room = 48.0
    height = max(row, row * len(items)) + 8
    plot_w = width - label_width - value_room
    maximum = max((v for _, v in items), default=0)
    chart = BarChart(title=title, width=width, height=height)
    chart.axes.append(Line(label_width, 4, label_width, height - 4))
    for i, (label, value) in enumerate(items):
        y = 4 + row * i
        length = plot_w * value / maximum if maximum else 0.0
        middle = _r(y + row / 2 + 4)
        chart.labels.append(Label(label_width - 8, middle, label, "end"))
        if value > 0:
            chart.bars.append(
                Bar(label_width, _r(y + 4), _r(length), row - 8, css, f"{label}: {value:,}")
            )
        chart.labels.append(Label(_r(label_width + length + 6), middle, f"{value:,}", "start"))
    return chart
