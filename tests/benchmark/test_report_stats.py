"""Win rates, bootstrap intervals, the leaderboard and the Pareto front, on hand-checked data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from benchmark.metrics import Metric, get_metric
from benchmark.report import bootstrap_ci, leaderboard, pareto_front, win_rates

CLIP = get_metric("clip_score")
LOWER = Metric("error_rate", "err", "error", "error rate", 2, False, "none", "fewer errors")

# Three prompts, one seed: a beats b once, ties once, loses once; c is flat 1.0.
SCORES = {
    "a": [3.0, 5.0, 1.0],
    "b": [2.0, 5.0, 4.0],
    "c": [1.0, 1.0, 1.0],
}


def _rows(scores: dict[str, list[float]], metric: str = "clip_score") -> list[dict[str, Any]]:
    rows = []
    for model, values in scores.items():
        for index, value in enumerate(values):
            rows.append({"prompt_set": "s", "prompt": f"prompt {index}", "seed": 0,
                         "model": model, "status": "ok", metric: value})  # fmt: skip
    return rows


def test_win_rates_by_hand() -> None:
    table = win_rates(_rows(SCORES), ["a", "b", "c"], CLIP)
    ab = table["a"]["b"]
    assert (ab.wins, ab.losses, ab.ties, ab.pairs) == (1, 1, 1, 3)
    assert ab.rate == pytest.approx(0.5)  # (1 + 1/2) / 3
    # a over c: 3 > 1, 5 > 1, 1 = 1: (2 + 1/2) / 3.
    assert table["a"]["c"].rate == pytest.approx(2.5 / 3)
    assert table["c"]["a"].rate == pytest.approx(0.5 / 3)
    # b over c: 2, 5, 4 all beat 1.
    assert table["b"]["c"].rate == 1.0
    assert table["c"]["b"].rate == 0.0
    assert "a" not in table["a"]


def test_win_rates_pair_only_the_same_prompt_and_seed() -> None:
    rows = _rows({"a": [3.0, 1.0], "b": [2.0]})
    rows.append({"prompt_set": "s", "prompt": "prompt 0", "seed": 7, "model": "b",
                 "status": "ok", "clip_score": 9.0})  # fmt: skip
    rows.append({"prompt_set": "s", "prompt": "prompt 1", "seed": 0, "model": "b",
                 "status": "failed", "clip_score": None})  # fmt: skip
    ab = win_rates(rows, ["a", "b"], CLIP)["a"]["b"]
    assert (ab.wins, ab.losses, ab.ties) == (1, 0, 0)  # only prompt 0, seed 0 pairs up
    assert win_rates(_rows({"a": [1.0]}), ["a", "z"], CLIP)["a"]["z"].rate is None


def test_lower_is_better_flips_the_win() -> None:
    rows = _rows({"a": [0.1, 0.2], "b": [0.3, 0.2]}, "error_rate")
    assert win_rates(rows, ["a", "b"], LOWER)["a"]["b"].rate == pytest.approx(0.75)
    standings = leaderboard(rows, ["b", "a"], LOWER)
    assert [s.model for s in standings] == ["a", "b"]


def test_bootstrap_intervals_by_hand() -> None:
    assert bootstrap_ci([]) is None
    assert bootstrap_ci([4.0]) == (4.0, 4.0)
    assert bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0)
    # Means of two draws from {0, 1} are 0, 0.5, 1 with chances 1/4, 1/2, 1/4: the
    # 2.5% and 97.5% quantiles of 2000 of them are 0 and 1.
    assert bootstrap_ci([0.0, 1.0]) == (0.0, 1.0)
    # Seeded: the same values give the same interval; another seed may not.
    values = list(np.random.default_rng(1).normal(size=50))
    assert bootstrap_ci(values) == bootstrap_ci(values)
    # Large n: the normal approximation mean +- 1.96 sd / sqrt(n) within a few percent.
    sample = np.random.default_rng(2).normal(10.0, 2.0, size=400)
    low, high = bootstrap_ci(list(sample)) or (0.0, 0.0)
    half = 1.96 * sample.std(ddof=1) / np.sqrt(sample.size)
    assert low == pytest.approx(sample.mean() - half, abs=0.03)
    assert high == pytest.approx(sample.mean() + half, abs=0.03)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci([1.0, 2.0], confidence=1.5)


def test_leaderboard_by_hand() -> None:
    standings = leaderboard(_rows(SCORES), ["c", "a", "b"], CLIP)
    assert [(s.rank, s.model) for s in standings] == [(1, "b"), (2, "a"), (3, "c")]
    b, a, c = standings
    assert b.mean == pytest.approx(11 / 3)
    assert a.mean == pytest.approx(3.0)
    assert (c.ci_low, c.ci_high) == (1.0, 1.0)
    assert b.ci_low <= b.mean <= b.ci_high
    # b's win rates: 0.5 against a, 1.0 against c.
    assert b.win_rate == pytest.approx(0.75)
    assert c.win_rate == pytest.approx((0.5 / 3 + 0.0) / 2)
    assert b.images == 3
    tied = leaderboard(_rows({"a": [1.0, 2.0], "b": [2.0, 1.0], "z": [0.0, 0.0]}), ["a", "b", "z"],
                       CLIP)  # fmt: skip
    assert [s.rank for s in tied] == [1, 1, 3]


def test_pareto_front_by_hand() -> None:
    points = [("fast-bad", 1.0, 20.0), ("slow-good", 5.0, 30.0), ("dominated", 6.0, 25.0),
              ("mid", 2.0, 26.0), ("same-cost-worse", 2.0, 24.0)]  # fmt: skip
    assert pareto_front(points) == ["fast-bad", "mid", "slow-good"]
    assert pareto_front(points, higher_is_better=False) == ["fast-bad"]
    assert pareto_front([]) == []
