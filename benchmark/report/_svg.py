"""Inline SVG charts: no scripts, no CDN, readable when the page is opened offline."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["PALETTE", "Point", "Series", "bar_chart", "nice_ticks", "strip_chart"]

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
)
_WIDTH = 600
_LEFT = 170  # room for model names
_RIGHT = 70  # room for value labels
_ROW = 30
_TOP = 34
_BOTTOM = 34


@dataclass(frozen=True)
class Series:
    """One model's values in a chart, drawn in ``color``."""

    label: str
    color: str
    values: Sequence[float]


@dataclass(frozen=True)
class Point:
    """One labelled point of a scatter chart (``_matrix.pareto_chart``)."""

    label: str
    color: str
    x: float
    y: float


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick positions covering [low, high] (1, 2 or 5 times a power of ten apart)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"nice_ticks: bounds must be finite, got {low}, {high}")
    if high < low:
        low, high = high, low
    if high == low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def strip_chart(
    title: str, series: Sequence[Series], *, unit: str = "", fmt: Callable[[float], str] = str
) -> str:
    """Every value as a dot on its model's row, with the median (bar) and mean (diamond).

    A strip chart keeps the spread visible: two models with the same mean can differ a lot
    in how often they fail a prompt badly. Rows without values say "no data".
    """
    values = [v for s in series for v in s.values]
    if not values:
        return _empty(title)
    ticks = nice_ticks(min(values), max(values))
    x = _scale(ticks[0], ticks[-1])
    label_decimals = _decimals(ticks) + 1
    height = _TOP + _ROW * len(series) + _BOTTOM
    parts = [_open(title, height), *_x_axis(ticks, x, height, unit)]
    for index, item in enumerate(series):
        y = _TOP + _ROW * index + _ROW / 2
        parts.append(_label(item.label, y))
        if not item.values:
            parts.append(f'<text x="{_LEFT + 6}" y="{y + 4:.1f}" class="muted">no data</text>')
            continue
        for position, value in enumerate(item.values):
            # Deterministic jitter so dots with equal values stay apart and reruns match.
            jitter = ((position * 37) % 17 - 8) * 0.9
            parts.append(
                f'<circle cx="{x(value):.1f}" cy="{y + jitter:.1f}" r="3" fill="{item.color}" '
                f'fill-opacity="0.45"><title>{escape(item.label)}: {escape(fmt(value))}'
                f"{escape(unit)}</title></circle>"
            )
        median = statistics.median(item.values)
        mean = statistics.fmean(item.values)
        parts.append(
            f'<line x1="{x(median):.1f}" x2="{x(median):.1f}" y1="{y - 12:.1f}" '
            f'y2="{y + 12:.1f}" stroke="#222" stroke-width="2"><title>median '
            f"{escape(fmt(median))}{escape(unit)}</title></line>"
        )
        parts.append(
            f'<path d="M{x(mean):.1f},{y - 6:.1f} l6,6 l-6,6 l-6,-6 z" fill="#fff" '
            f'stroke="#222" stroke-width="1.5"><title>mean {escape(fmt(mean))}'
            f"{escape(unit)}</title></path>"
        )
        parts.append(
            f'<text x="{_WIDTH - _RIGHT + 6}" y="{y + 4:.1f}" class="value">'
            f"{median:.{label_decimals}f}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def bar_chart(
    title: str, items: Sequence[tuple[str, str, float | None]], *, fmt: Callable[[float], str]
) -> str:
    """One horizontal bar per (label, colour, value); None is drawn as "no data"."""
    known = [value for _, _, value in items if value is not None]
    if not known:
        return _empty(title)
    ticks = nice_ticks(0.0, max(max(known), 0.0) or 1.0)
    x = _scale(ticks[0], ticks[-1])
    height = _TOP + _ROW * len(items) + _BOTTOM
    parts = [_open(title, height), *_x_axis(ticks, x, height, "")]
    for index, (label, color, value) in enumerate(items):
        y = _TOP + _ROW * index + _ROW / 2
        parts.append(_label(label, y))
        if value is None:
            parts.append(f'<text x="{_LEFT + 6}" y="{y + 4:.1f}" class="muted">no data</text>')
            continue
        width = max(x(value) - _LEFT, 1.0)
        parts.append(
            f'<rect x="{_LEFT}" y="{y - 9:.1f}" width="{width:.1f}" height="18" '
            f'fill="{color}"><title>{escape(label)}: {escape(fmt(value))}</title></rect>'
        )
        parts.append(
            f'<text x="{_LEFT + width + 6:.1f}" y="{y + 4:.1f}" class="value">'
            f"{escape(fmt(value))}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _scale(low: float, high: float) -> Callable[[float], float]:
    span = (high - low) or 1.0
    usable = _WIDTH - _LEFT - _RIGHT

    def x(value: float) -> float:
        return _LEFT + (value - low) / span * usable

    return x


def _open(title: str, height: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {_WIDTH} {height}" '
        f'width="{_WIDTH}" height="{height}" role="img" aria-label="{escape(title)}">'
        f'<text x="10" y="20" class="title">{escape(title)}</text>'
    )


def _decimals(ticks: Sequence[float]) -> int:
    # Enough decimals that neighbouring ticks differ: a narrow range (0.001 apart) needs 3.
    step = (ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    return max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0


def _x_axis(
    ticks: Sequence[float], x: Callable[[float], float], height: int, unit: str
) -> list[str]:
    bottom = height - _BOTTOM
    decimals = _decimals(ticks)
    parts = []
    for tick in ticks:
        px = x(tick)
        parts.append(
            f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{_TOP - 4}" y2="{bottom}" class="grid"/>'
        )
        parts.append(
            f'<text x="{px:.1f}" y="{bottom + 16}" class="tick">{tick:.{decimals}f}</text>'
        )
    if unit:
        parts.append(
            f'<text x="{_WIDTH - 10}" y="{bottom + 30}" class="unit">{escape(unit.strip())}</text>'
        )
    return parts


def _label(label: str, y: float) -> str:
    shown = label if len(label) <= 24 else label[:23] + "…"
    return (
        f'<text x="{_LEFT - 8}" y="{y + 4:.1f}" class="label">{escape(shown)}'
        f"<title>{escape(label)}</title></text>"
    )


def _empty(title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {_WIDTH} 60" '
        f'width="{_WIDTH}" height="60" role="img" aria-label="{escape(title)}">'
        f'<text x="10" y="20" class="title">{escape(title)}</text>'
        f'<text x="10" y="44" class="muted">no data (not measured in this run)</text></svg>'
    )
