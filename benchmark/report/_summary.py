"""Per-model and per-category aggregates of a run's rows."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from benchmark.metrics import metrics
from benchmark.placement import PLACEMENTS
from benchmark.prompts import category_axes
from benchmark.report._stats import bootstrap_ci

__all__ = ["ModelSummary", "category_axes_of", "category_means", "percentile", "summarize"]


@dataclass(frozen=True)
class ModelSummary:
    """What one model did in a run. Every statistic is None when it has no data.

    Scores, latency and throughput use the successful ("ok") rows only. ``images_per_s`` is
    ok images divided by the summed generation latency (the lease wait excluded), so it
    measures the model, not how busy the backend kept the GPU. ``score_means`` and
    ``score_medians`` hold every registered metric (``benchmark.metrics``) by name,
    ``score_cis`` the 95% bootstrap interval of each mean (``_stats.bootstrap_ci``).

    Where the model ran (all rows): ``devices`` in the order first seen; ``placement`` the one
    most images used, ``placement_counts`` images per placement, ``placement_note`` a line
    when the placement changed mid-run (an out-of-memory retry moves a model one placement
    lower for the rest of its images, ``benchmark.placed``); ``resident_mem_bytes_max`` what
    the model kept on the device, ``peak_mem_bytes_max`` its peak (None: not measured, as on
    the CPU).
    """

    model: str
    images: int
    ok: int
    failed: int
    latency_p50_s: float | None
    latency_p95_s: float | None
    steps_per_s_mean: float | None
    images_per_s: float | None
    peak_mem_bytes_max: int | None
    lease_wait_s_total: float | None
    yields_total: int | None
    energy_j_mean: float | None
    devices: tuple[str, ...] = ()
    placement: str | None = None
    placement_counts: Mapping[str, int] = field(default_factory=dict)
    placement_note: str | None = None
    resident_mem_bytes_max: int | None = None
    score_means: Mapping[str, float | None] = field(default_factory=dict)
    score_medians: Mapping[str, float | None] = field(default_factory=dict)
    score_cis: Mapping[str, tuple[float, float] | None] = field(default_factory=dict)

    def value(self, key: str) -> Any:
        """A column of :meth:`as_dict` by its key (``clip_mean``, ``latency_p50_s``, ...)."""
        return self.as_dict()[key]

    def as_dict(self) -> dict[str, Any]:
        """The summary as a JSON-ready dict: counts, ``<short>_mean``/``_median``/``_ci_low``/
        ``_ci_high`` per metric, the rest."""
        out: dict[str, Any] = {"model": self.model, "images": self.images, "ok": self.ok,
                               "failed": self.failed}  # fmt: skip
        for metric in metrics():
            out[f"{metric.short}_mean"] = self.score_means.get(metric.name)
            out[f"{metric.short}_median"] = self.score_medians.get(metric.name)
            interval = self.score_cis.get(metric.name)
            out[f"{metric.short}_ci_low"] = interval[0] if interval else None
            out[f"{metric.short}_ci_high"] = interval[1] if interval else None
        skip = {"model", "images", "ok", "failed", "score_means", "score_medians", "score_cis"}
        out.update({f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip})
        return out


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100, linear interpolation as numpy's default); None if empty."""
    if not values:
        return None
    return float(np.percentile(np.asarray(values, dtype=float), q))


def summarize(rows: Sequence[Mapping[str, Any]], models: Sequence[str]) -> list[ModelSummary]:
    """One ``ModelSummary`` per name in ``models``, in that order (models with no rows too)."""
    return [_summarize_one(name, [r for r in rows if r["model"] == name]) for name in models]


def _summarize_one(model: str, rows: Sequence[Mapping[str, Any]]) -> ModelSummary:
    ok = [row for row in rows if row["status"] == "ok"]
    scores = {metric.name: _numbers(row.get(metric.name) for row in ok) for metric in metrics()}
    latency = _numbers(row.get("latency_s") for row in ok)
    steps_per_s = _numbers(row.get("steps_per_s") for row in ok)
    memory = _numbers(row.get("peak_mem_bytes") for row in rows)
    resident = _numbers(row.get("resident_mem_bytes") for row in rows)
    placements = _placement_counts(rows)
    placement = max(placements, key=placements.__getitem__) if placements else None
    waits = _numbers(row.get("lease_wait_s") for row in rows)
    yields = _numbers(row.get("yields") for row in rows)
    energy = _numbers(row.get("energy_j") for row in ok)
    total_latency = sum(latency)
    return ModelSummary(
        model=model,
        images=len(rows),
        ok=len(ok),
        failed=len(rows) - len(ok),
        latency_p50_s=percentile(latency, 50),
        latency_p95_s=percentile(latency, 95),
        steps_per_s_mean=_mean(steps_per_s),
        images_per_s=len(latency) / total_latency if total_latency > 0 else None,
        peak_mem_bytes_max=int(max(memory)) if memory else None,
        lease_wait_s_total=sum(waits) if waits else None,
        yields_total=int(sum(yields)) if yields else None,
        energy_j_mean=_mean(energy),
        devices=tuple(dict.fromkeys(str(r["device"]) for r in rows if r.get("device"))),
        placement=placement,
        placement_counts=placements,
        placement_note=_placement_note(placements, len(rows)),
        resident_mem_bytes_max=int(max(resident)) if resident else None,
        score_means={name: _mean(values) for name, values in scores.items()},
        score_medians={name: _median(values) for name, values in scores.items()},
        score_cis={name: bootstrap_ci(values) for name, values in scores.items()},
    )


def _placement_counts(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    # Leanest last, as an out-of-memory retry moves a model (benchmark.placement): a
    # tie in counts goes to the placement the model started with.
    counts: dict[str, int] = {}
    for row in rows:
        if row.get("placement"):
            counts[str(row["placement"])] = counts.get(str(row["placement"]), 0) + 1
    return {p: counts[p] for p in sorted(counts, key=_placement_rank)}


def _placement_rank(placement: str) -> tuple[int, str]:
    known = PLACEMENTS.index(placement) if placement in PLACEMENTS else len(PLACEMENTS)
    return (known, placement)


def _placement_note(counts: Mapping[str, int], images: int) -> str | None:
    """``gpu for 8 of 10 images, then model_offload for 2 (after an out-of-memory retry)``."""
    if len(counts) < 2:
        return None
    first, *later = counts
    then = ", ".join(f"{p} for {counts[p]}" for p in later)
    return (
        f"{first} for {counts[first]} of {images} images, then {then} "
        "(after an out-of-memory retry)"
    )


def category_axes_of(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The category axes the rows carry (``category``, and ``challenge`` for PartiPrompts)."""
    axes = dict.fromkeys(a for row in rows for a in category_axes(row.get("category")))
    return list(axes) or ["category"]


def category_means(
    rows: Sequence[Mapping[str, Any]],
    models: Sequence[str],
    metric: str,
    axis: str = "category",
) -> dict[str, dict[str, float | None]]:
    """Mean ``metric`` over ok rows per category and model: ``{category: {model: mean}}``.

    ``axis`` picks which of a prompt's categories (``benchmark.prompts.category_axes``)
    groups the rows. Rows without one are grouped under ``"(none)"``; categories are sorted.
    """
    grouped: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        if row["status"] != "ok":
            continue
        category = category_axes(row.get("category")).get(axis) or "(none)"
        value = row.get(metric)
        per_model = grouped.setdefault(category, {})
        if isinstance(value, int | float) and not isinstance(value, bool):
            per_model.setdefault(str(row["model"]), []).append(float(value))
    return {
        category: {model: _mean(grouped[category].get(model, [])) for model in models}
        for category in sorted(grouped)
    }


def _numbers(values: Iterable[Any]) -> list[float]:
    return [
        float(value)
        for value in values
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None
