"""The GPU memory the backend holds and needs: weights, a measured peak, and running out of it.

The backend keeps its model on the device between leases, so it registers as a
:func:`gpu_coord.resident` of its device: its weights as ``resident_bytes`` and, as
``headroom_bytes``, the extra memory its largest allowed request took at its peak, measured by
one warm-up generation at start (on CUDA; elsewhere only when asked). The runner's
:func:`gpu_coord.memory_budget` then leaves the backend room for its peak.
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass

import torch

from backend.errors import GpuOutOfMemory
from backend.lease import backend_lease_device
from backend.settings import Settings
from backend.validation import work_of
from gpu_coord import Resident, memory_budget, resident
from imagegen import GenerationRequest, LoadedPipeline, cuda_index, generate

log = logging.getLogger("backend")

# Classifier-free guidance doubles the denoiser's batch; a client may turn it on whatever the
# model's default, so the warm-up measures with it on.
_CFG_GUIDANCE = 2.0


@dataclass(frozen=True)
class MemoryFigures:
    """What the backend holds on its GPU and what it needs on top at its peak.

    ``weights_bytes`` is torch's reserved memory after the load (0 off CUDA: nothing is held
    on a GPU); ``peak_working_bytes`` is the measured peak reserved during the warm-up minus
    the weights (None when no warm-up measured it); ``warmup`` says what was generated.
    """

    weights_bytes: int
    peak_working_bytes: int | None
    warmup: str | None
    warmup_seconds: float | None


def _gib(value: int | None) -> str:
    return "unknown" if value is None else f"{value / 2**30:.2f} GiB"


def flush_cuda(device: str) -> None:
    """Drop what the failed attempt left: Python garbage, then torch's cached blocks."""
    gc.collect()
    if cuda_index(device) is not None and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def warmup_request(loaded: LoadedPipeline, settings: Settings) -> GenerationRequest:
    """The largest request the settings allow: the largest square within ``max_size`` and
    ``max_pixels``, as many images as ``max_n`` and the work budget allow, guidance on, and
    one step (every step takes the same memory; the decode after it runs too)."""
    side = settings.max_size
    while side > settings.min_size and side * side > settings.max_pixels:
        side -= 8
    n = settings.max_n
    probe = GenerationRequest(prompt="warm-up", width=side, height=side, steps=1, n=1)
    per_image = work_of(probe, loaded)
    n = max(1, min(n, settings.work_budget(loaded.device) // per_image))
    guidance = max(loaded.default_guidance, _CFG_GUIDANCE)
    return GenerationRequest(
        prompt="warm-up", width=side, height=side, steps=1, n=n, guidance=guidance, seed=0
    )


def should_warm_up(settings: Settings, device: str) -> bool:
    """``BACKEND_WARMUP``: on, off, or unset (auto): on CUDA only, where it measures memory."""
    if settings.warmup is not None:
        return settings.warmup
    return cuda_index(device) is not None


def measure(loaded: LoadedPipeline, settings: Settings) -> MemoryFigures:
    """The weights' memory and, when warming up, one generation's peak on top (in the lease)."""
    index = cuda_index(loaded.device)
    on_cuda = index is not None and torch.cuda.is_initialized()
    if on_cuda:
        torch.cuda.synchronize(index)
    weights = int(torch.cuda.memory_reserved(index)) if on_cuda else 0
    if not should_warm_up(settings, loaded.device):
        return MemoryFigures(weights, None, None, None)
    request = warmup_request(loaded, settings)
    what = f"{request.width}x{request.height} n={request.n} guidance={request.guidance:g}"
    if on_cuda:
        torch.cuda.reset_peak_memory_stats(index)
    start = time.perf_counter()
    cuda_said = None
    try:
        generate(loaded, request)
    except torch.cuda.OutOfMemoryError as exc:
        cuda_said = str(exc).strip().splitlines()[0] if str(exc).strip() else "out of memory"
    if cuda_said is not None:
        flush_cuda(loaded.device)  # out of the except clause: the failed frames are gone
        raise RuntimeError(
            f"the warm-up at the largest size allowed ({what}) ran out of GPU memory: lower "
            f"BACKEND_MAX_SIZE, BACKEND_MAX_PIXELS or BACKEND_MAX_N ({cuda_said})"
        )
    seconds = time.perf_counter() - start
    peak: int | None = None
    if on_cuda:
        torch.cuda.synchronize(index)
        peak = max(0, int(torch.cuda.max_memory_reserved(index)) - weights)
        flush_cuda(loaded.device)
        weights = int(torch.cuda.memory_reserved(index))
    log.info(
        "warm-up %s in %.2f s: weights %s, peak working memory %s",
        what,
        seconds,
        _gib(weights),
        _gib(peak),
    )
    return MemoryFigures(weights, peak, what, seconds)


def register(settings: Settings, figures: MemoryFigures) -> Resident:
    """Register as a resident of the backend's device (exit it to unregister)."""
    return resident(
        "backend",
        device=backend_lease_device(settings),
        path=settings.gpu_coord_path,
        resident_bytes=figures.weights_bytes,
        headroom_bytes=figures.peak_working_bytes or 0,
    ).__enter__()


def out_of_memory(
    request_id: str, cuda_said: str, figures: MemoryFigures | None, settings: Settings
) -> GpuOutOfMemory:
    """The 503 for a generation that ran out of memory twice: what was needed, what was free."""
    if figures is None:
        needed = "its needs are unknown (the model's memory was not measured)"
    elif figures.peak_working_bytes is None:
        needed = (
            f"it holds {_gib(figures.weights_bytes)} of weights; its peak working memory was "
            "not measured (no warm-up ran: BACKEND_WARMUP)"
        )
    else:
        needed = (
            f"it needs {_gib(figures.weights_bytes + figures.peak_working_bytes)} at its peak "
            f"({_gib(figures.weights_bytes)} of weights + {_gib(figures.peak_working_bytes)} "
            f"working memory measured at warm-up, {figures.warmup})"
        )
    budget = memory_budget(backend_lease_device(settings), path=settings.gpu_coord_path)
    if budget.known:
        free = f"the memory budget said {_gib(budget.available_bytes)} was free ({budget.reason})"
    else:
        free = f"the memory budget was unknown ({budget.reason})"
    first_line = cuda_said.strip().splitlines()[0] if cuda_said.strip() else "out of memory"
    return GpuOutOfMemory(
        f"the GPU ran out of memory for request {request_id}, also after a flush and a retry: "
        f"{needed}; {free}; CUDA said: {first_line}",
        headers={"Retry-After": "5"},
    )
