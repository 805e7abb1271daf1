"""The ``[run]`` table: the seeds, the device(s), the timeouts, scoring and isolation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.config._table import Table
from benchmark.devices import run_device_settings


@dataclass(frozen=True)
class RunSettings:
    """The ``[run]`` table."""

    seeds: tuple[int, ...] = (0,)
    device: str = "auto"
    image_timeout_s: float = 600.0
    load_timeout_s: float = 1800.0
    score: bool = True
    devices: tuple[int, ...] | str | None = None  # benchmark.devices; "all" or CUDA indices
    lease_devices: tuple[int, ...] | None = None  # the CPU mode: one worker per lease
    block_checkpoints: bool = True
    isolation: str = "process"
    container_image: str = "gpu-share-benchmark:latest"


def parse_run(path: Path, data: Any) -> RunSettings:
    table = Table(path, "run", data)
    table.unknown(
        {
            "seeds",
            "images_per_prompt",
            "base_seed",
            "device",
            "image_timeout_s",
            "load_timeout_s",
            "score",
            "devices",
            "lease_devices",
            "block_checkpoints",
            "isolation",
            "container_image",
        }
    )
    seeds = table.get("seeds", list)
    if seeds is not None:
        if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
            raise table.fail("seeds", f"expected a non-empty list of integers, got {seeds!r}")
        if len(set(seeds)) != len(seeds):
            raise table.fail("seeds", f"duplicate seeds in {seeds!r}")
        if "images_per_prompt" in table.data:
            raise table.fail("images_per_prompt", "give either seeds or images_per_prompt")
        seed_tuple = tuple(seeds)
    else:
        count = table.positive("images_per_prompt", int, 1)
        base = table.get("base_seed", int, 0)
        seed_tuple = tuple(range(base, base + count))
    return RunSettings(
        seeds=seed_tuple,
        device=table.get("device", str, "auto"),
        image_timeout_s=table.positive("image_timeout_s", float, 600.0),
        load_timeout_s=table.positive("load_timeout_s", float, 1800.0),
        score=table.get("score", bool, True),
        **run_device_settings(table.data, table.get, table.fail),
    )
