"""Two SVG charts of the comparison: the win-rate matrix and the Pareto chart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from benchmark.report._svg import Point, nice_ticks

__all__ = ["matrix_chart", "pareto_chart"]

_CELL = 56
_LEFT = 170
_TOP = 60


def matrix_chart(
    title: str, models: Sequence[str], cells: Mapping[str, Mapping[str, tuple[float | None, int]]]
) -> str:
    """A square of cells: row model against column model, its win rate and pair count.

    ``cells[a][b]`` is ``(rate of a over b, pairs)``; rate None (no shared pairs)
    shows a dash. Colour runs from red (0: always lost) through white (0.5) to
    green (1: always won), so a row of green is a model that beats the others.
    """
    size = len(models)
    width, height = _LEFT + _CELL * size + 20, _TOP + _CELL * size + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">'
        f'<text x="10" y="20" class="title">{escape(title)}</text>'
        f'<text x="10" y="38" class="muted">row beats column on the same prompt and seed</text>'
    ]
    for j, name in enumerate(models):
        x = _LEFT + _CELL * j + _CELL / 2
        parts.append(
            f'<text x="{x:.0f}" y="{_TOP - 6}" class="tick">{escape(_short(name, 8))}'
            f"<title>{escape(name)}</title></text>"
        )
    for i, row in enumerate(models):
        y = _TOP + _CELL * i
        parts.append(
            f'<text x="{_LEFT - 8}" y="{y + _CELL / 2 + 4:.0f}" class="label">'
            f"{escape(_short(row, 24))}<title>{escape(row)}</title></text>"
        )
        for j, column in enumerate(models):
            x = _LEFT + _CELL * j
            rate, pairs = (None, 0) if row == column else cells[row][column]
            fill = "#f5f5f7" if rate is None else _colour(rate)
            text = "–" if rate is None else f"{rate:.2f}"
            tip = f"{row} over {column}: " + (
                "no shared pairs" if rate is None else f"{rate:.3f} over {pairs} pairs"
            )
            parts.append(
                f'<rect x="{x}" y="{y}" width="{_CELL - 2}" height="{_CELL - 2}" fill="{fill}">'
                f"<title>{escape(tip)}</title></rect>"
                f'<text x="{x + _CELL / 2 - 1:.0f}" y="{y + _CELL / 2 + 4:.0f}" class="tick" '
                f'style="fill:#1d1d1f">{text}</text>'
            )
    parts.append("</svg>")
    return "\n".join(parts)


def _colour(rate: float) -> str:
    # Diverging red-white-green: white at a draw.
    if rate >= 0.5:
        share = (rate - 0.5) * 2
        r, g, b = 255 - share * 255, 255 - share * 97, 255 - share * 140
    else:
        share = (0.5 - rate) * 2
        r, g, b = 255 - share * 42, 255 - share * 161, 255 - share * 255
    return f"rgb({r:.0f},{g:.0f},{b:.0f})"


def _short(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def pareto_chart(
    title: str,
    points: Sequence[Point],
    front: Sequence[str],
    *,
    x_title: str,
    y_title: str,
) -> str:
    """Quality (y) against cost (x), one point per model, the Pareto front joined by a line.

    ``front`` names the points on the front, cheapest first (``_stats.pareto_front``):
    the models worth their cost. Points off the front are drawn hollow.
    """
    if not points:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 600 60" '
            f'width="600" height="60" role="img" aria-label="{escape(title)}">'
            f'<text x="10" y="20" class="title">{escape(title)}</text>'
            f'<text x="10" y="44" class="muted">no data (not measured in this run)</text></svg>'
        )
    width, height, left, right, top, bottom = 600, 300, 60, 150, 40, 44
    xs, ys = (
        nice_ticks(min(p.x for p in points), max(p.x for p in points), 4),
        nice_ticks(min(p.y for p in points), max(p.y for p in points), 4),
    )

    def px(v: float) -> float:
        return left + (v - xs[0]) / ((xs[-1] - xs[0]) or 1.0) * (width - left - right)

    def py(v: float) -> float:
        return height - bottom - (v - ys[0]) / ((ys[-1] - ys[0]) or 1.0) * (height - bottom - top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">'
        f'<text x="10" y="20" class="title">{escape(title)}</text>'
    ]
    for tick in xs:
        parts.append(
            f'<line x1="{px(tick):.1f}" x2="{px(tick):.1f}" y1="{top}" y2="{height - bottom}" '
            f'class="grid"/><text x="{px(tick):.1f}" y="{height - bottom + 16}" class="tick">'
            f"{tick:.4g}</text>"
        )
    for tick in ys:
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{py(tick):.1f}" y2="{py(tick):.1f}" '
            f'class="grid"/><text x="{left - 6}" y="{py(tick) + 4:.1f}" class="label">'
            f"{tick:.4g}</text>"
        )
    parts.append(
        f'<text x="{(left + width - right) / 2:.0f}" y="{height - 8}" class="tick">'
        f'{escape(x_title)}</text><text x="14" y="{(top + height - bottom) / 2:.0f}" '
        f'class="tick" transform="rotate(-90 14 {(top + height - bottom) / 2:.0f})">'
        f"{escape(y_title)}</text>"
    )
    by_label = {p.label: p for p in points}
    line = " ".join(f"{px(by_label[n].x):.1f},{py(by_label[n].y):.1f}" for n in front)
    if len(front) > 1:
        parts.append(
            f'<polyline points="{line}" fill="none" stroke="#222" stroke-dasharray="4 3" '
            'class="front"><title>Pareto front</title></polyline>'
        )
    for p in points:
        on = p.label in front
        fill = p.color if on else "#fff"
        parts.append(
            f'<circle cx="{px(p.x):.1f}" cy="{py(p.y):.1f}" r="6" fill="{fill}" '
            f'stroke="{p.color}" stroke-width="2"><title>{escape(p.label)}: {escape(x_title)} '
            f"{p.x:.4g}, {escape(y_title)} {p.y:.4g}"
            f"{' (on the Pareto front)' if on else ''}</title></circle>"
            f'<text x="{px(p.x) + 9:.1f}" y="{py(p.y) + 4:.1f}" class="value">'
            f"{escape(_short(p.label, 20))}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)
