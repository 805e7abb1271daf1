"""What a report compares: the metrics shown, the ranking metric, win rates, the leaderboard.

Computed once per report from the rows (``_stats``), then rendered into
report.json, report.md (here) and report.html (``_comparison_html``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchmark.metrics import Metric, get_metric, metrics
from benchmark.report._format import format_number
from benchmark.report._stats import Standing, WinRate, leaderboard, win_rates
from benchmark.report._summary import ModelSummary

__all__ = ["Comparison", "compare", "comparison_markdown", "shown_metrics"]


def shown_metrics(rows: Sequence[Mapping[str, Any]]) -> tuple[Metric, ...]:
    """The registered metrics some row has a value of (all of them when none has any)."""
    scored = tuple(m for m in metrics() if any(row.get(m.name) is not None for row in rows))
    return scored or metrics()


@dataclass(frozen=True)
class Comparison:
    """The comparison part of a report."""

    shown: tuple[Metric, ...]
    rank_by: Metric
    standings: list[Standing]
    wins: Mapping[str, Mapping[str, Mapping[str, WinRate]]]  # {metric: {a: {b: WinRate}}}

    def as_dict(self) -> dict[str, Any]:
        """For report.json."""
        return {
            "rank_by": self.rank_by.name,
            "leaderboard": [s.as_dict() for s in self.standings],
            "win_rates": {
                metric: {a: {b: w.as_dict() for b, w in row.items()} for a, row in table.items()}
                for metric, table in self.wins.items()
            },
        }


def compare(
    rows: Sequence[Mapping[str, Any]], models: Sequence[str], rank_by: str | None = None
) -> Comparison:
    """Win rates for every shown metric and the leaderboard by ``rank_by``.

    ``rank_by`` defaults to the first shown metric; an unknown name raises
    ``ValueError`` naming the known ones.
    """
    shown = shown_metrics(rows)
    if rank_by is None:
        chosen = shown[0]
    else:
        try:
            chosen = get_metric(rank_by)
        except KeyError as exc:
            raise ValueError(f"rank by: {exc.args[0]}") from None
    return Comparison(
        shown=shown,
        rank_by=chosen,
        standings=leaderboard(rows, models, chosen),
        wins={m.name: win_rates(rows, models, m) for m in shown},
    )


def _ci(summary: ModelSummary, m: Metric) -> str:
    mean = summary.score_means.get(m.name)
    interval = summary.score_cis.get(m.name)
    if mean is None or interval is None:
        return "–"
    low, high = (format_number(v, m.digits) for v in interval)
    return f"{format_number(mean, m.digits)} [{low}, {high}]"


def comparison_markdown(
    comparison: Comparison, summaries: Sequence[ModelSummary], cell: Any
) -> list[str]:
    """The leaderboard, the means with intervals and the win-rate tables, as Markdown lines.

    ``cell`` escapes one table cell (``_tabular._cell``).
    """
    m = comparison.rank_by
    lines = ["", f"## Leaderboard by {m.label}", ""]
    if comparison.standings:
        lines += ["| rank | model | mean | 95% interval | mean win rate | images |",
                  "|--:|---|--:|---|--:|--:|"]  # fmt: skip
        for s in comparison.standings:
            low, high = format_number(s.ci_low, m.digits), format_number(s.ci_high, m.digits)
            interval = f"[{low}, {high}]"
            lines.append(
                f"| {s.rank} | {cell(s.model)} | {format_number(s.mean, m.digits)} | {interval} "
                f"| {format_number(s.win_rate, 2)} | {s.images} |"
            )
    else:
        lines.append(f"No {m.label} yet.")
    lines += ["", "## Means with 95% bootstrap intervals", ""]
    lines.append("| model | " + " | ".join(cell(x.label) for x in comparison.shown) + " |")
    lines.append("|---|" + "--:|" * len(comparison.shown))
    for summary in summaries:
        values = [_ci(summary, x) for x in comparison.shown]
        lines.append(f"| {cell(summary.model)} | " + " | ".join(values) + " |")
    names = [s.model for s in summaries]
    if len(names) < 2:
        return lines
    for metric in comparison.shown:
        table = comparison.wins[metric.name]
        lines += ["", f"## Win rates, {metric.label} (row beats column, same prompt and seed)", ""]
        lines.append("| model | " + " | ".join(cell(n) for n in names) + " |")
        lines.append("|---|" + "--:|" * len(names))
        for a in names:
            values = ["–" if a == b else format_number(table[a][b].rate, 2) for b in names]
            lines.append(f"| {cell(a)} | " + " | ".join(values) + " |")
    return lines
