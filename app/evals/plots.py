"""Eval plots drawn as inline SVG with matplotlib: one function per `Plot` kind.

No pyplot (no global figure state): each plot is a `Figure` saved through the SVG backend
under a temporary style. Text stays text (`svg.fonttype = none`), so the page's font renders it
and it can be searched and copied. The same data always gives the same SVG.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

INK = "#1d2430"
MUTED = "#5e6a7d"
LINE = "#dde3ec"
GOOD = "#1d7a46"
BAD = "#c0392b"
PALETTE = ("#2457d6", "#e08a00", "#7b4fc9", "#1c9aa8", "#c2477a", "#6b7a90", "#8c6d1f")
"""Series colours, in order (green and red are kept for series named right / wrong)."""
WIDTH = 6.0
HEIGHT = 3.2

_STYLE: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "text.parse_math": False,  # labels are data: a `$` in them is not mathtext
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial"],
    "font.size": 8.5,
    "text.color": INK,
    "axes.labelcolor": INK,
    "axes.edgecolor": "#9aa5b5",
    "axes.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.labelsize": 8,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "grid.color": LINE,
    "grid.linewidth": 0.7,
    "legend.frameon": False,
    "legend.fontsize": 7.5,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
}


class NoData(ValueError):
    """The plot's data is empty or not in the shape its kind needs."""


@dataclass(frozen=True)
class Drawing:
    """A drawn plot: the SVG, or the note shown instead of it."""

    svg: str | None
    note: str = ""
    wide: bool = False
    """Drawn larger than the usual plot (a confusion matrix of many labels): give it the
    page's full width."""


def draw(kind: str, data: Mapping[str, Any]) -> Drawing:
    """The plot as an inline `<svg>` (no XML prolog), or a short note when there is nothing
    to draw."""
    drawer = _DRAWERS.get(kind)
    if drawer is None:
        return Drawing(None, f"No data: unknown plot kind {kind!r}.")
    if not isinstance(data, Mapping):
        return Drawing(None, "No data: the plot's data is not an object.")
    try:
        style = dict(_STYLE)
        style["svg.hashsalt"] = _salt(kind, data)
        # rc_context puts matplotlib's global settings back afterwards, whatever happens.
        with mpl.rc_context(style), warnings.catch_warnings():
            # Missing glyphs (emoji in a label) and layout hints are not actionable here: the
            # browser draws the text itself, and a report must not fail over its styling.
            warnings.simplefilter("ignore")
            figure = drawer(data)
            return Drawing(_svg(figure), wide=figure.get_figwidth() > WIDTH * 1.1)
    except NoData as exc:
        return Drawing(None, f"No data: {exc}.")
    except Exception as exc:  # malformed data must cost one plot, never the whole report
        return Drawing(None, f"No data: could not draw this plot ({type(exc).__name__}: {exc}).")


# --- one drawer per kind ------------------------------------------------------------------


def _bars(data: Mapping[str, Any]) -> Figure:
    categories = _labels(data.get("categories"), "no categories")
    series = _series(data.get("series"), len(categories))
    unit = str(data.get("unit") or "")
    stacked = bool(data.get("stacked"))
    # Long or many category names read better down the side than rotated under the axis.
    horizontal = len(categories) > 8 or max(len(c) for c in categories) > 14
    rows = len(categories) * (1 if stacked else max(1, len(series) * 0.6))
    height = min(9.0, max(HEIGHT, 1.1 + 0.28 * rows)) if horizontal else HEIGHT
    figure, axes = _figure(WIDTH, height)
    positions = np.arange(len(categories), dtype=float)
    names = list(series)
    colours = _colours(names)
    width = 0.7 if stacked else 0.8 / len(names)
    base = np.zeros(len(categories))
    # Stacked segments are labelled against the tallest stack (0 means: label bar ends).
    scale = float(np.sum([np.abs(v) for v in series.values()], axis=0).max()) if stacked else 0.0
    for index, name in enumerate(names):
        values = np.array(series[name], dtype=float)
        offset = 0.0 if stacked else (index - (len(names) - 1) / 2) * width
        where = positions + offset
        if horizontal:
            bars = axes.barh(where, values, height=width, left=base, color=colours[index])
        else:
            bars = axes.bar(where, values, width=width, bottom=base, color=colours[index])
        bars.set_label(name)
        _annotate_bars(axes, bars, values, unit, scale)
        if stacked:
            base = base + values
    value_axis, category_axis = (axes.xaxis, axes.yaxis) if horizontal else (axes.yaxis, axes.xaxis)
    category_axis.set_ticks(positions, categories)
    if horizontal:
        axes.invert_yaxis()  # first category on top, as a table reads
    elif max(len(c) for c in categories) * len(categories) > 60:
        axes.tick_params(axis="x", labelrotation=30)
        for label in axes.get_xticklabels():
            label.set_horizontalalignment("right")
    value_axis.set_label_text(unit)
    axes.grid(axis="x" if horizontal else "y")
    axes.set_axisbelow(True)
    if unit == "%" and stacked and float(base.max(initial=0.0)) <= 100.5:
        (axes.set_xlim if horizontal else axes.set_ylim)(0, 100)
    _legend(figure, names)
    return figure


def _annotate_bars(
    axes: Axes, bars: Any, values: np.ndarray[Any, Any], unit: str, scale: float
) -> None:
    """Values on the bars; in a stack, only on segments tall enough to hold the text."""
    if len(values) > 24:
        return
    if scale > 0:
        labels = [_number(v, unit) if v >= 0.07 * scale else "" for v in values]
        axes.bar_label(bars, labels=labels, label_type="center", fontsize=6.5, color="white")
    else:
        labels = [_number(v, unit) for v in values]
        axes.bar_label(bars, labels=labels, padding=2, fontsize=6.5, color=MUTED)


def _confusion(data: Mapping[str, Any]) -> Figure:
    rows = _labels(data.get("labels"), "no labels")
    columns = _labels(data.get("columns") or rows, "no columns")
    matrix = np.array(data.get("matrix"), dtype=float)
    if matrix.shape != (len(rows), len(columns)):
        raise NoData(f"the matrix is {matrix.shape}, not {len(rows)} x {len(columns)}")
    _finite(matrix)
    if not matrix.any():
        raise NoData("every count is zero")
    many = max(len(rows), len(columns))
    # The square grows and the fonts shrink with the label count: 60 intents still fit one
    # readable (and zoomable) square the page shows full width.
    font = max(5.0, min(7.5, 330 / many))
    side = min(12.0, max(3.4, 1.6 + 0.17 * many))
    figure, axes = _figure(max(WIDTH, side + 1.2), side)
    same = np.array([[r == c for c in columns] for r in rows], dtype=bool)
    # Right answers in green, confusions in red: each scaled to its own largest count, so a
    # single confusion stays visible next to a diagonal of hundreds.
    image = np.ones((*matrix.shape, 3))
    for mask, colour in ((same, GOOD), (~same, BAD)):
        peak = matrix[mask].max(initial=0.0)
        if peak <= 0:
            continue
        shade = np.where(mask, 0.15 + 0.85 * matrix / peak, 0.0)[..., None]
        image = np.where(
            mask[..., None] & (matrix[..., None] > 0), 1 - shade * (1 - _rgb(colour)), image
        )
    axes.imshow(image, aspect="auto", interpolation="nearest")
    axes.set_xticks(range(len(columns)), columns, rotation=55, ha="right", fontsize=font)
    axes.set_yticks(range(len(rows)), rows, fontsize=font)
    axes.tick_params(length=0)
    for spine in axes.spines.values():
        spine.set_visible(False)
    axes.set_xticks(np.arange(len(columns) + 1) - 0.5, minor=True)
    axes.set_yticks(np.arange(len(rows) + 1) - 0.5, minor=True)
    axes.grid(which="minor", color="white", linewidth=0.6 if many < 30 else 0.3)
    axes.tick_params(which="minor", length=0)
    axes.set_xlabel("got", fontsize=font + 0.5, color=MUTED)
    axes.set_ylabel("expected", fontsize=font + 0.5, color=MUTED)
    for (r, c), count in np.ndenumerate(matrix):
        if count:
            dark = float(np.mean(image[r, c])) < 0.55
            axes.text(
                c,
                r,
                f"{count:.0f}",
                ha="center",
                va="center",
                fontsize=font * 0.9,
                color="white" if dark else INK,
            )
    return figure


def _histogram(data: Mapping[str, Any]) -> Figure:
    edges = _numbers(data.get("bins"), "no bins")
    if len(edges) < 2 or any(b <= a for a, b in itertools.pairwise(edges)):
        raise NoData("the bin edges are not increasing")
    series = _series(data.get("series"), len(edges) - 1)
    if not any(any(values) for values in series.values()):
        raise NoData("every count is zero")
    figure, axes = _figure(WIDTH, HEIGHT)
    names = list(series)
    colours = _colours(names)
    # Overlaid outlines over light fills: a series of 20 stays visible next to one of 2,000.
    for name, colour in zip(names, colours, strict=True):
        values = np.array(series[name], dtype=float)
        axes.stairs(values, edges, fill=True, color=colour, alpha=0.18, linewidth=0)
        axes.stairs(
            values, edges, color=colour, linewidth=1.4, label=f"{name} ({values.sum():.0f})"
        )
    axes.set_xlim(edges[0], edges[-1])
    axes.set_ylim(bottom=0)
    axes.set_xlabel(str(data.get("xlabel") or ""))
    axes.set_ylabel(str(data.get("ylabel") or "count"))
    axes.grid(axis="y")
    axes.set_axisbelow(True)
    _legend(figure, names)
    return figure


def _curve(data: Mapping[str, Any]) -> Figure:
    raw = data.get("series")
    if not isinstance(raw, Mapping) or not raw:
        raise NoData("no series")
    lines: dict[str, np.ndarray[Any, Any]] = {}
    for name, points in raw.items():
        array = np.array(points, dtype=float)
        if array.size == 0:
            continue
        if array.ndim != 2 or array.shape[1] != 2:
            raise NoData(f"series {name!r} is not a list of [x, y] points")
        _finite(array)
        lines[str(name)] = array
    if not lines:
        raise NoData("every series is empty")
    figure, axes = _figure(WIDTH, HEIGHT)
    names = list(lines)
    for name, colour in zip(names, _colours(names), strict=True):
        points = lines[name]
        axes.plot(
            points[:, 0],
            points[:, 1],
            color=colour,
            linewidth=1.6,
            label=name,
            marker="o" if len(points) <= 12 else None,
            markersize=3,
        )
    marker = data.get("marker")
    if marker is not None:
        x, y = (float(v) for v in _numbers(marker, "the marker is not [x, y]")[:2])
        axes.plot(
            [x],
            [y],
            marker="o",
            markersize=7,
            color=INK,
            markerfacecolor="white",
            markeredgewidth=1.8,
            linestyle="none",
            zorder=5,
        )
        label = str(data.get("marker_label") or f"({x:g}, {y:g})")
        axes.annotate(
            label,
            (x, y),
            xytext=(12, -16),
            textcoords="offset points",
            fontsize=7.5,
            color=INK,
            arrowprops={"arrowstyle": "-", "color": MUTED, "lw": 0.8},
            bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": LINE, "lw": 0.8},
        )
    axes.set_xlabel(str(data.get("xlabel") or ""))
    axes.set_ylabel(str(data.get("ylabel") or ""))
    axes.grid(True)
    axes.set_axisbelow(True)
    if len(names) > 1:
        _legend(figure, names)
    return figure


def _reliability(data: Mapping[str, Any]) -> Figure:
    raw = data.get("bins")
    if not isinstance(raw, Sequence) or not raw:
        raise NoData("no bins")
    bins = np.array(raw, dtype=float)
    if bins.ndim != 2 or bins.shape[1] != 3:
        raise NoData("bins are not [confidence, accuracy, count] triples")
    _finite(bins)
    bins = bins[np.argsort(bins[:, 0])]
    confidence, accuracy, counts = bins[:, 0], bins[:, 1], bins[:, 2]
    if max(confidence.max(), accuracy.max()) > 1.0:  # given as percentages
        confidence, accuracy = confidence / 100, accuracy / 100
    gaps = np.diff(confidence)
    width = float(np.clip(gaps[gaps > 0].min(initial=0.1) * 0.85, 0.02, 0.085))
    figure, axes = _figure(WIDTH, HEIGHT)
    axes.plot([0, 1], [0, 1], linestyle="--", color=MUTED, linewidth=1, label="perfect calibration")
    axes.bar(confidence, accuracy, width=width, color=PALETTE[0], alpha=0.85, label="accuracy")
    # The miscalibration gap between what the model claims and what it gets (Guo et al. 2017).
    axes.bar(
        confidence,
        confidence - accuracy,
        bottom=accuracy,
        width=width,
        color="none",
        edgecolor=BAD,
        hatch="////",
        linewidth=0.6,
        label="gap to confidence",
    )
    for x, y, n in zip(confidence, accuracy, counts, strict=True):
        axes.annotate(
            f"n={n:.0f}",
            (x, max(x, y)),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            fontsize=6.5,
            color=MUTED,
        )
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.1)
    axes.set_yticks([0, 0.25, 0.5, 0.75, 1.0], ["0%", "25%", "50%", "75%", "100%"])
    axes.set_xticks([0, 0.2, 0.4, 0.6, 0.8, 1.0], ["0%", "20%", "40%", "60%", "80%", "100%"])
    axes.set_xlabel(str(data.get("xlabel") or "confidence"))
    axes.set_ylabel(str(data.get("ylabel") or "accuracy"))
    axes.grid(True)
    axes.set_axisbelow(True)
    _legend(figure, ["accuracy", "gap to confidence", "perfect calibration"])
    return figure


_DRAWERS: dict[str, Callable[[Mapping[str, Any]], Figure]] = {
    "bars": _bars,
    "confusion": _confusion,
    "histogram": _histogram,
    "curve": _curve,
    "reliability": _reliability,
}


# --- shared pieces ------------------------------------------------------------------------


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.add_subplot()


def _legend(figure: Figure, names: Sequence[str]) -> None:
    """One legend row above the plot (outside it, so it never hides data)."""
    if not names:
        return
    columns = min(len(names), 3 if max(len(n) for n in names) > 22 else 5)
    figure.legend(loc="outside upper left", ncols=columns, handlelength=1.2, columnspacing=1.2)


def _svg(figure: Figure) -> str:
    buffer = io.BytesIO()
    # No date or tool version in <metadata>: the same data must give the same bytes.
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue().decode("utf-8")
    # Inline in HTML: no XML prolog or doctype, and no RDF metadata block.
    text = _METADATA.sub("", text[text.index("<svg") :], count=1)
    return text.strip()


def _salt(kind: str, data: Mapping[str, Any]) -> str:
    """A salt for the SVG's element ids: stable for the same plot, distinct between plots, so
    two inline SVGs on one page never share an id."""
    text = json.dumps([kind, data], sort_keys=True, default=str)
    return "smsdesk-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _labels(value: Any, missing: str) -> list[str]:
    if not isinstance(value, Sequence) or isinstance(value, str) or not value:
        raise NoData(missing)
    return [str(v) for v in value]


def _numbers(value: Any, missing: str) -> list[float]:
    if not isinstance(value, Sequence) or isinstance(value, str) or not value:
        raise NoData(missing)
    numbers = [float(v) for v in value]
    _finite(np.array(numbers))
    return numbers


def _finite(array: np.ndarray[Any, Any]) -> None:
    if not np.isfinite(array).all():
        raise NoData("a value is not a finite number")


def _series(value: Any, length: int) -> dict[str, list[float]]:
    if not isinstance(value, Mapping) or not value:
        raise NoData("no series")
    series: dict[str, list[float]] = {}
    for name, values in value.items():
        numbers = _numbers(values, f"series {name!r} is empty")
        if len(numbers) != length:
            raise NoData(f"series {name!r} has {len(numbers)} values, not {length}")
        series[str(name)] = numbers
    return series


_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)
_RIGHT = re.compile(r"\b(right|correct|passed|pass)\b", re.IGNORECASE)
_WRONG = re.compile(r"\b(wrong|incorrect|failed|fail)\b", re.IGNORECASE)


def _colours(names: Sequence[str]) -> list[str]:
    """A colour per series: green for a series named right/correct, red for wrong/failed
    (the reader's first question), the palette in order for the rest."""
    others = iter(PALETTE * (len(names) // len(PALETTE) + 1))
    colours = []
    for name in names:
        if _WRONG.search(name):
            colours.append(BAD)
        elif _RIGHT.search(name):
            colours.append(GOOD)
        else:
            colours.append(next(others))
    return colours


def _rgb(colour: str) -> np.ndarray[Any, Any]:
    return np.array([int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])


def _number(value: float, unit: str) -> str:
    shown = f"{value:.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.1f}"
    return f"{shown}%" if unit == "%" else shown
