"""Percentiles and the figures each scenario reports."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(num: float | None, den: float | None) -> float:
    """``num / den``, NaN when either is missing or the denominator is not positive."""
    if num is None or den is None or not den > 0 or math.isnan(num):
        return math.nan
    return num / den


@dataclass(frozen=True)
class BackendFigures:
    """The backend's side of a scenario (seconds, bytes)."""

    requests: int
    p50: float
    p95: float
    p99: float
    wait_p50: float
    wait_p99: float
    busy_fraction: float
    forced: int
    peak_bytes: int | None

    @classmethod
    def from_reply(cls, reply: dict[str, Any]) -> BackendFigures:
        latency, wait = reply["latency"], reply["wait"]
        return cls(
            requests=len(latency),
            p50=percentile(latency, 50),
            p95=percentile(latency, 95),
            p99=percentile(latency, 99),
            wait_p50=percentile(wait, 50),
            wait_p99=percentile(wait, 99),
            busy_fraction=ratio(sum(reply["service"]), reply["window"]),
            forced=int(reply["forced"]),
            peak_bytes=reply.get("peak_bytes"),
        )


@dataclass(frozen=True)
class RunnerFigures:
    """The runner's side of a scenario."""

    images: int
    images_per_second: float
    yields_per_image: float
    wait_seconds: float
    peak_bytes: int | None

    @classmethod
    def from_reply(cls, reply: dict[str, Any]) -> RunnerFigures:
        images = int(reply["images"])
        return cls(
            images=images,
            images_per_second=ratio(images, reply["span"]),
            yields_per_image=ratio(reply["yields"], images),
            wait_seconds=float(sum(reply["wait"])),
            peak_bytes=reply.get("peak_bytes"),
        )


@dataclass(frozen=True)
class ScenarioResult:
    """One scenario: which scheme, and the figures of the roles that ran."""

    name: str
    scheme: str
    backend: BackendFigures | None
    runner: RunnerFigures | None


@dataclass(frozen=True)
class SharedComparison:
    """A shared scenario set against the two alone runs (the issue's targets)."""

    scheme: str
    p99_ratio: float
    p50_ratio: float
    runner_ratio: float
    runner_vs_idle: float

    @classmethod
    def of(
        cls, shared: ScenarioResult, backend_alone: BackendFigures, runner_alone: RunnerFigures
    ) -> SharedComparison:
        assert shared.backend is not None
        assert shared.runner is not None
        idle = 1.0 - backend_alone.busy_fraction
        runner_ratio = ratio(shared.runner.images_per_second, runner_alone.images_per_second)
        return cls(
            scheme=shared.scheme,
            p99_ratio=ratio(shared.backend.p99, backend_alone.p99),
            p50_ratio=ratio(shared.backend.p50, backend_alone.p50),
            runner_ratio=runner_ratio,
            runner_vs_idle=ratio(runner_ratio, idle),
        )


def merge_replies(total: dict[str, Any] | None, reply: dict[str, Any]) -> dict[str, Any]:
    """One role's replies of several windows of a scenario as if from one window.

    Lists (latencies, waits, service times) are joined, counts and window lengths
    added, and the peak memory is the largest peak.
    """
    if total is None:
        return dict(reply)
    merged = dict(total)
    for key, value in reply.items():
        if key == "peak_bytes":
            peaks = [p for p in (total.get(key), value) if p is not None]
            merged[key] = max(peaks) if peaks else None
        elif isinstance(value, list):
            merged[key] = [*total.get(key, []), *value]
        elif isinstance(value, int | float):
            merged[key] = total.get(key, 0) + value
        else:
            merged[key] = value
    return merged


def median(values: Sequence[float]) -> float:
    """The middle value (the mean of the two middle ones for an even count); NaN when empty."""
    return percentile(values, 50.0)


@dataclass(frozen=True)
class BlockFigures:
    """Step-only against block checkpoints, from the scenarios and the overhead probe.

    ``stretch_*``: the median over the probe's images of the longest time between
    two checkpoints of an image (its start and end count as checkpoints), the
    most a request arriving mid-image waits for the runner. ``hook_share``: the
    time inside ``checkpoint()`` as a share of image time with block checkpoints
    and nobody waiting (median over images); ``image_change``: the median image
    time with block checkpoints over the step-only one, minus 1; ``spread``: the
    step-only images' range over their median (the noise ``image_change`` sits in).
    On CUDA the stretches are the GPU's (CUDA events at each checkpoint;
    ``stretch_clock`` says which clock timed them).
    """

    checkpoints_step: float
    checkpoints_blocks: float
    wait_p99_step: float
    wait_p99_blocks: float
    stretch_step: float
    stretch_blocks: float
    step_seconds: float
    hook_share: float
    image_change: float
    spread: float
    images: int
    stretch_clock: str = "wall clock"

    @classmethod
    def of(cls, overhead: dict[str, Any], scenarios: Sequence[ScenarioResult]) -> BlockFigures:
        step, blocks = overhead["step"], overhead["blocks"]
        waits = {s.scheme: s.backend.wait_p99 for s in scenarios if s.backend is not None}
        step_median = median(step["image"])
        on_gpu = bool(step.get("gpu_gap")) and bool(blocks.get("gpu_gap"))
        gap = "gpu_gap" if on_gpu else "gap"
        return cls(
            checkpoints_step=median(step["count"]),
            checkpoints_blocks=median(blocks["count"]),
            wait_p99_step=waits.get("lease", math.nan),
            wait_p99_blocks=waits.get("lease-blocks", math.nan),
            stretch_step=median(step[gap]),
            stretch_blocks=median(blocks[gap]),
            step_seconds=float(overhead["step_seconds"]),
            hook_share=median(
                [i / t for i, t in zip(blocks["inside"], blocks["image"], strict=True)]
            ),
            image_change=median(blocks["image"]) / step_median - 1,
            spread=(max(step["image"]) - min(step["image"])) / step_median,
            images=len(blocks["image"]),
            stretch_clock="GPU (CUDA events)" if on_gpu else "wall clock",
        )
