"""The worker's side of placement: decide against the budget, load, offload, step down.

:func:`decide` reads the device's memory budget (``gpu_coord.memory_budget`` on
the lease device) just before the model loads and calls
:func:`benchmark.placement.choose_placement`; :func:`load_placed` loads the
pipeline for the chosen placement (offloaded pipelines load on the CPU and get
diffusers' hooks); :func:`place` moves a loaded pipeline to another placement,
which is how an out-of-memory image is retried one placement lower. Off CUDA
there is no device memory to budget: ``auto`` keeps everything on the device,
and an explicit offload runs diffusers' hooks with the CPU as the target (the
same code path, no memory saved).
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
from typing import TYPE_CHECKING, Any

from benchmark.placement import Placement, PlacementDecision, choose_placement, gib

if TYPE_CHECKING:
    from benchmark.placement import MemoryNeed
    from imagegen import LoadedPipeline

__all__ = [
    "INJECT_OOM_ENV",
    "decide",
    "describe_oom",
    "device_memory",
    "flush",
    "injected_oom",
    "load_placed",
    "oom_budget",
    "place",
]

log = logging.getLogger("benchmark.worker")

#: Test-only: the first N images of each worker raise ``torch.cuda.OutOfMemoryError``
#: from inside the pipeline (its first step), so the real recovery path runs on the CPU.
INJECT_OOM_ENV = "BENCHMARK_TEST_INJECT_OOM"


def decide(
    need: MemoryNeed | None, requested: str, *, device: str, lease_device: int
) -> PlacementDecision:
    """The placement for a model about to load on ``device`` (lease ``lease_device``)."""
    if not device.startswith("cuda"):
        if requested == "auto":
            return PlacementDecision("gpu", f"all on the device: {device} has no memory budget")
        return choose_placement(need, None, requested)
    from gpu_coord import memory_budget

    return choose_placement(need, memory_budget(lease_device), requested)


def _apply(pipe: Any, placement: Placement, device: str) -> None:
    pipe.remove_all_hooks()
    if placement == "gpu":
        pipe.to(device)
    elif placement == "model_offload":
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.enable_sequential_cpu_offload(device=device)


def load_placed(
    source: str, *, device: str, dtype: str, variant: str | None, placement: Placement
) -> LoadedPipeline:
    """Load ``source`` for ``placement`` on ``device``; raises ``imagegen.ModelLoadError``."""
    from imagegen import ModelLoadError, load_pipeline, pick_dtype

    if placement == "gpu":
        return load_pipeline(source, device=device, dtype=dtype, variant=variant)
    # Offloaded weights live on the CPU in the dtype chosen for the target device
    # (half precision on CUDA for "auto"), and move over as the hooks need them.
    name = str(pick_dtype(device, dtype)).removeprefix("torch.")
    loaded = load_pipeline(source, device="cpu", dtype=name, variant=variant)
    try:
        _apply(loaded.pipe, placement, device)
    except Exception as exc:  # accelerate missing, a pipeline without an offload sequence
        raise ModelLoadError(
            source, f"cannot set up {placement}: {type(exc).__name__}: {exc}"
        ) from exc
    return dataclasses.replace(loaded, device=device)


def place(loaded: LoadedPipeline, placement: Placement) -> None:
    """Move an already loaded pipeline to ``placement`` (after an out-of-memory image)."""
    _apply(loaded.pipe, placement, loaded.device)
    flush(loaded.device)


def flush(device: str) -> None:
    """Free what a failed image left: Python's garbage, then torch's cached blocks."""
    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def device_memory(index: int | None) -> int | None:
    """Bytes torch has allocated on CUDA device ``index`` now; None off CUDA."""
    if index is None:
        return None
    import torch

    return int(torch.cuda.memory_allocated(index))


def injected_oom(count: list[int]) -> None:
    """Raise the injected out-of-memory error while ``count[0]`` (from the env var) lasts."""
    if count[0] > 0:
        count[0] -= 1
        import torch

        raise torch.cuda.OutOfMemoryError(
            f"CUDA out of memory (injected by {INJECT_OOM_ENV} for a test)"
        )


def oom_budget() -> list[int]:
    """The injection counter of this worker process (``[0]`` unless the test env var is set)."""
    raw = os.environ.get(INJECT_OOM_ENV, "0")
    try:
        return [max(0, int(raw))]
    except ValueError:
        raise ValueError(f"{INJECT_OOM_ENV}={raw!r}: expected a whole number") from None


def describe_oom(placement: Placement, peak: int | None, resident: int | None) -> str:
    """The figures an out-of-memory failure names."""
    return f"placement {placement}, peak {gib(peak)}, resident {gib(resident)}"
