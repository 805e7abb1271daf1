"""The statistics that let a report say whether model A beats model B.

- :func:`bootstrap_ci`: a seeded percentile bootstrap interval of the mean;
- :func:`win_rates`: pairwise win rates per metric on the same prompt and seed;
- :func:`leaderboard`: models ranked by one metric, with intervals and win rates;
- :func:`pareto_front`: the models no other model beats on both quality and cost.

Pure numpy and the standard library: the report never imports torch.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmark.metrics import Metric

__all__ = [
    "BOOTSTRAP_RESAMPLES",
    "BOOTSTRAP_SEED",
    "Standing",
    "WinRate",
    "bootstrap_ci",
    "leaderboard",
    "pareto_front",
    "win_rates",
]

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0  # fixed: the same rows give the same interval in every report


def bootstrap_ci(
    values: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float] | None:
    """The percentile bootstrap interval of the mean of ``values``; None when empty.

    ``resamples`` means of ``len(values)`` draws with replacement (numpy's
    ``default_rng(seed)``), cut at the ``(1 - confidence) / 2`` quantiles. One
    value gives the interval (v, v): nothing to say about its spread.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"bootstrap_ci: confidence must be in (0, 1), got {confidence}")
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return None
    if data.size == 1:
        return float(data[0]), float(data[0])
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, data.size, size=(resamples, data.size))
    means = data[draws].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class WinRate:
    """How often one model beat another on the same prompt and seed, for one metric.

    ``rate`` is ``(wins + ties / 2) / pairs`` (None without pairs): 0.5 is a draw.
    """

    wins: int
    losses: int
    ties: int

    @property
    def pairs(self) -> int:
        """Prompt-and-seed pairs both models were scored on."""
        return self.wins + self.losses + self.ties

    @property
    def rate(self) -> float | None:
        """The win rate, ties counting half."""
        return (self.wins + self.ties / 2) / self.pairs if self.pairs else None

    def as_dict(self) -> dict[str, Any]:
        """For report.json."""
        return {"wins": self.wins, "losses": self.losses, "ties": self.ties,
                "pairs": self.pairs, "rate": self.rate}  # fmt: skip


def _paired(rows: Sequence[Mapping[str, Any]], metric: str) -> dict[str, dict[Any, float]]:
    # {model: {(prompt set, prompt text, seed): value}}: the same item for every model.
    # Text, not id: two runs (or two set versions) may number the same prompt apart.
    out: dict[str, dict[Any, float]] = {}
    for row in rows:
        value = row.get(metric)
        if row["status"] != "ok" or not isinstance(value, int | float) or isinstance(value, bool):
            continue
        key = (row["prompt_set"], row["prompt"], row.get("seed"))
        out.setdefault(str(row["model"]), {})[key] = float(value)
    return out


def win_rates(
    rows: Sequence[Mapping[str, Any]], models: Sequence[str], metric: Metric
) -> dict[str, dict[str, WinRate]]:
    """``{a: {b: WinRate of a over b}}`` for every ordered pair of distinct ``models``.

    Only the prompt-and-seed items both were scored on count; "better" follows
    ``metric.higher_is_better``; equal values are ties.
    """
    paired = _paired(rows, metric.name)
    sign = 1.0 if metric.higher_is_better else -1.0
    table: dict[str, dict[str, WinRate]] = {}
    for a in models:
        table[a] = {}
        for b in models:
            if a == b:
                continue
            mine, theirs = paired.get(a, {}), paired.get(b, {})
            shared = mine.keys() & theirs.keys()
            diffs = [sign * (mine[k] - theirs[k]) for k in shared]
            table[a][b] = WinRate(
                wins=sum(d > 0 for d in diffs),
                losses=sum(d < 0 for d in diffs),
                ties=sum(d == 0 for d in diffs),
            )
    return table


@dataclass(frozen=True)
class Standing:
    """One model's line of the leaderboard."""

    rank: int
    model: str
    mean: float
    ci_low: float
    ci_high: float
    images: int
    win_rate: float | None  # the mean of its win rates against the others

    def as_dict(self) -> dict[str, Any]:
        """For report.json."""
        return dict(self.__dict__)


def leaderboard(
    rows: Sequence[Mapping[str, Any]], models: Sequence[str], metric: Metric
) -> list[Standing]:
    """The models with scores, best mean of ``metric`` first (models without scores left out).

    Equal means share a rank. The win rate is each model's mean win rate against
    the others (pairs on the same prompt and seed), the column to read when the
    intervals overlap.
    """
    paired = _paired(rows, metric.name)
    wins = win_rates(rows, models, metric)
    scored = [m for m in models if paired.get(m)]
    entries = []
    for model in scored:
        values = list(paired[model].values())
        low, high = bootstrap_ci(values) or (0.0, 0.0)
        rates = [r for other, w in wins[model].items() if other in scored
                 and (r := w.rate) is not None]  # fmt: skip
        entries.append((statistics.fmean(values), low, high, len(values), model,
                        statistics.fmean(rates) if rates else None))  # fmt: skip
    entries.sort(key=lambda e: e[0], reverse=metric.higher_is_better)
    standings: list[Standing] = []
    for index, (mean, low, high, count, model, rate) in enumerate(entries):
        tied = standings and standings[-1].mean == mean
        rank = standings[-1].rank if tied else index + 1
        standings.append(Standing(rank, model, mean, low, high, count, rate))
    return standings


def pareto_front(
    points: Sequence[tuple[str, float, float]], *, higher_is_better: bool = True
) -> list[str]:
    """The labels of ``(label, cost, quality)`` points that no other point dominates.

    A point is dominated when another costs no more and scores no worse, and is
    strictly better in one of the two. Returned cheapest first.
    """

    def quality(p: tuple[str, float, float]) -> float:
        return p[2] if higher_is_better else -p[2]

    front = [
        p
        for p in points
        if not any(
            o[1] <= p[1] and quality(o) >= quality(p) and (o[1] < p[1] or quality(o) > quality(p))
            for o in points
        )
    ]
    return [p[0] for p in sorted(front, key=lambda p: (p[1], -quality(p)))]
