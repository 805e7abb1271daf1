"""report.html's comparison: leaderboard, intervals, win-rate matrices, Pareto charts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from benchmark.metrics import Metric
from benchmark.report._comparison import Comparison
from benchmark.report._format import format_number
from benchmark.report._matrix import matrix_chart, pareto_chart
from benchmark.report._stats import pareto_front
from benchmark.report._summary import ModelSummary
from benchmark.report._svg import Point

__all__ = ["comparison_html"]


def comparison_html(
    comparison: Comparison, summaries: Sequence[ModelSummary], colors: Mapping[str, str]
) -> str:
    """The sections ``leaderboard``, ``intervals``, ``wins`` and ``pareto``."""
    return "".join(
        [
            '<section id="leaderboard">',
            _leaderboard(comparison, colors),
            "</section>",
            '<section id="intervals"><h2>Means with 95% bootstrap intervals</h2>',
            _intervals(comparison.shown, summaries),
            "<p class=note>Percentile bootstrap of the mean over the ok images (2000 "
            "resamples, seed 0): overlapping intervals mean the data cannot tell the "
            "models apart; read the win rates then.</p></section>",
            '<section id="wins"><h2>Win rates</h2>',
            _wins(comparison, [s.model for s in summaries]),
            "</section>",
            '<section id="pareto"><h2>Quality against cost</h2>',
            _pareto(comparison.rank_by, summaries, colors),
            "</section>",
        ]
    )


def _leaderboard(comparison: Comparison, colors: Mapping[str, str]) -> str:
    m = comparison.rank_by
    head = f"<h2>Leaderboard by {escape(m.label)}</h2>"
    if not comparison.standings:
        return head + f"<p>No {escape(m.label)} yet.</p>"
    lines = [
        head,
        "<div class=scroll><table class=leaderboard><thead><tr><th>rank</th><th>model</th>"
        f"<th>mean {escape(m.column)}</th><th>95% interval</th><th>mean win rate</th>"
        "<th>images</th></tr></thead><tbody>",
    ]
    for s in comparison.standings:
        swatch = f'<span class=swatch style="background:{colors.get(s.model, "#999")}"></span>'
        lines.append(
            f"<tr><td>{s.rank}</td><th>{swatch}{escape(s.model)}</th>"
            f"<td>{format_number(s.mean, m.digits)}</td>"
            f"<td>[{format_number(s.ci_low, m.digits)}, {format_number(s.ci_high, m.digits)}]</td>"
            f"<td>{format_number(s.win_rate, 2)}</td><td>{s.images}</td></tr>"
        )
    lines.append("</tbody></table></div>")
    better = "higher" if m.higher_is_better else "lower"
    lines.append(f"<p class=note>Ranked by mean {escape(m.label)} ({better} is better).</p>")
    return "".join(lines)


def _intervals(shown: Sequence[Metric], summaries: Sequence[ModelSummary]) -> str:
    head = "".join(f"<th>{escape(m.label)}</th>" for m in shown)
    lines = [f"<div class=scroll><table class=intervals><thead><tr><th>model</th>{head}</tr>"]
    lines.append("</thead><tbody>")
    for s in summaries:
        cells = []
        for m in shown:
            mean, interval = s.score_means.get(m.name), s.score_cis.get(m.name)
            if mean is None or interval is None:
                cells.append("<td>–</td>")
                continue
            low, high = (format_number(v, m.digits) for v in interval)
            cells.append(
                f"<td>{format_number(mean, m.digits)} <span class=muted>[{low}, {high}]</span></td>"
            )
        lines.append(f"<tr><th>{escape(s.model)}</th>{''.join(cells)}</tr>")
    lines.append("</tbody></table></div>")
    return "".join(lines)


def _wins(comparison: Comparison, models: Sequence[str]) -> str:
    if len(models) < 2:
        return "<p>One model: nothing to compare.</p>"
    charts = []
    for m in comparison.shown:
        table = comparison.wins[m.name]
        cells = {a: {b: (w.rate, w.pairs) for b, w in row.items()} for a, row in table.items()}
        charts.append(matrix_chart(f"Win rate, {m.label}", models, cells))
    return "<div class=charts>" + "".join(f"<figure>{c}</figure>" for c in charts) + "</div>"


def _pareto(m: Metric, summaries: Sequence[ModelSummary], colors: Mapping[str, str]) -> str:
    charts = []
    for cost, x_title in (("latency_p50_s", "seconds per image (median)"),
                          ("energy_j_mean", "joules per image (mean)")):  # fmt: skip
        points = []
        for s in summaries:
            x, y = s.value(cost), s.score_means.get(m.name)
            if x is not None and y is not None:
                points.append(Point(s.model, colors.get(s.model, "#999"), float(x), float(y)))
        front = pareto_front([(p.label, p.x, p.y) for p in points],
                             higher_is_better=m.higher_is_better)  # fmt: skip
        better = "up and left" if m.higher_is_better else "down and left"
        charts.append(
            pareto_chart(
                f"{m.label[:1].upper()}{m.label[1:]} against {x_title.split(' (')[0]} "
                f"({better} is better)",
                points,
                front,
                x_title=x_title,
                y_title=f"mean {m.label}",
            )
        )
    note = (
        "<p class=note>Filled points joined by the dashed line are the Pareto front: no "
        "other model is both cheaper and better. Joules are measured on NVIDIA GPUs only.</p>"
    )
    return note + "<div class=charts>" + "".join(f"<figure>{c}</figure>" for c in charts) + "</div>"
