"""The schemes compared and how many iterations each measure takes (``--quick``: few)."""

from __future__ import annotations

from dataclasses import dataclass

SCHEMES = ("gpu_coord", "original", "filelock")


@dataclass
class Plan:
    """Iterations per measurement (the original scheme sleeps 0.5 s per release)."""

    cycles: dict[str, int]
    checkpoints: int
    handoffs: dict[str, int]
    wakeups: dict[str, int]
    crashes: dict[str, int]
    period_ms: float
    steps_per_image: int
    handoff_cap: float = 5.0
    history_cycles: int = 5000
    frozen_waits: int = 100
    kills: int = 20
    cancels: int = 200


def plan(quick: bool, period_ms: float) -> Plan:
    if quick:
        return Plan(
            {"gpu_coord": 200, "original": 3, "filelock": 100},
            2000,
            {"gpu_coord": 10, "original": 2, "filelock": 2},
            {"gpu_coord": 10, "original": 2, "filelock": 5},
            {"gpu_coord": 3, "original": 2, "filelock": 2},
            period_ms,
            20,
            1.0,
            history_cycles=400,
            frozen_waits=5,
            kills=2,
            cancels=10,
        )
    return Plan(
        {"gpu_coord": 5000, "original": 10, "filelock": 2000},
        50000,
        {"gpu_coord": 200, "original": 10, "filelock": 10},
        {"gpu_coord": 200, "original": 10, "filelock": 50},
        {"gpu_coord": 20, "original": 5, "filelock": 10},
        period_ms,
        20,
    )


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]
