"""The runner's probes: the flush policies' costs, and the checkpoints' with nobody waiting.

Each takes ``image``, a function that makes one image and waits for its kernels,
so the contention benchmark's runner role and the GPU host check's steps
measure the same way.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from gpu_coord import gpu_snapshot, lease
from imagegen import cuda_index, lease_device
from perf.contention._config import FLUSH_POLICIES
from perf.contention._memory import cuda_memory

FlushFigures = dict[str, float | None]
#: ``on_step, on_block -> None``: makes one image with those hooks.
HookedImage = Callable[[Any, Any], None]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _energy_mj(index: int | None) -> int | None:
    snapshot = gpu_snapshot(index) if index is not None else None
    return None if snapshot is None else snapshot.energy_mj


def measure_flush_policies(
    image: Callable[[], None],
    device: str,
    path: Path,
    images: int,
    policies: tuple[str, ...] = FLUSH_POLICIES,
) -> dict[str, FlushFigures]:
    """Run ``images`` calls of ``image`` per policy, each in its own low-priority lease.

    ``image`` makes one image and waits for its kernels (``torch.cuda.synchronize``).
    Per policy: ``image_seconds`` (acquire to release, the lease's flush included)
    and ``images_per_second``; ``release_seconds``; ``returned_bytes``
    (``memory_reserved`` before minus after the release) and
    ``cached_after_bytes`` (reserved minus allocated after it); ``peak_allocated_bytes``
    (``max_memory_allocated`` over the policy's images) and
    ``energy_joules_per_image`` (NVML's total energy counter over them). The
    memory and energy figures are None off CUDA or without NVML.
    """
    index = cuda_index(device)
    results: dict[str, FlushFigures] = {}
    for policy in policies:
        releases: list[float] = []
        returned: list[float] = []
        leftover: list[float] = []
        if index is not None:
            torch.cuda.reset_peak_memory_stats(index)
        energy_before = _energy_mj(index)
        started = time.monotonic()
        for _ in range(images):
            held = lease(
                "benchmark", priority="low", path=path, flush=policy, device=lease_device(device)
            )
            held.acquire()
            try:
                image()
            finally:
                before = cuda_memory(device)
                released = time.monotonic()
                held.release()
                releases.append(time.monotonic() - released)
            after = cuda_memory(device)
            if before is not None and after is not None:
                returned.append(before[0] - after[0])
                leftover.append(after[0] - after[1])
        took = time.monotonic() - started
        energy_after = _energy_mj(index)
        energy = (
            (energy_after - energy_before) / 1000 / images
            if energy_before is not None and energy_after is not None
            else None
        )
        results[policy] = {
            "images_per_second": images / took,
            "image_seconds": took / images,
            "release_seconds": _mean(releases),
            "returned_bytes": _mean(returned),
            "cached_after_bytes": _mean(leftover),
            "peak_allocated_bytes": (
                float(torch.cuda.max_memory_allocated(index)) if index is not None else None
            ),
            "energy_joules_per_image": energy,
        }
    return results


def measure_checkpoint_overhead(
    image: HookedImage, device: str, path: Path, flush: str, images: int
) -> dict[str, dict[str, list[float]]]:
    """``images`` images per mode, step-only and step + block checkpoints, interleaved.

    Each image runs in its own uncontended low-priority lease. Per mode: the
    image times, the time spent inside ``checkpoint()``, the checkpoints per
    image and the longest stretch between two checkpoints (the image's start and
    end count as checkpoints: the most a high-priority request arriving mid-image
    could wait for one). On CUDA the stretches are also timed on the GPU
    (``gpu_gap``, CUDA events recorded at each checkpoint): the host runs ahead
    of the kernels it queues, and a handoff waits for the queue to drain.
    """
    cuda = device.startswith("cuda")
    modes: dict[str, dict[str, list[float]]] = {
        mode: {"image": [], "inside": [], "gap": [], "gpu_gap": [], "count": []}
        for mode in ("step", "blocks")
    }
    for _ in range(images):
        for mode, figures in modes.items():
            held = lease("benchmark", priority="low", path=path, flush=flush)
            marks: list[float] = []
            inside = [0.0]
            events: list[Any] = []

            def gpu_mark(events: list[Any] = events) -> None:
                if cuda:
                    event = torch.cuda.Event(enable_timing=True)
                    event.record()
                    events.append(event)

            def checkpoint(
                *_: Any,
                held: Any = held,
                marks: list[float] = marks,
                inside: list[float] = inside,
                gpu_mark: Any = gpu_mark,
            ) -> None:
                gpu_mark()
                entered = time.monotonic()
                held.checkpoint()
                left = time.monotonic()
                inside[0] += left - entered
                marks += [entered, left]

            with held:
                started = time.monotonic()
                gpu_mark()
                image(checkpoint, checkpoint if mode == "blocks" else None)
                gpu_mark()
                done = time.monotonic()
            if cuda:
                torch.cuda.synchronize(device)
                gpu = [a.elapsed_time(b) / 1000 for a, b in itertools.pairwise(events)]
                figures["gpu_gap"].append(max(gpu))
            # The stretches: start -> first entry, each exit -> next entry, last exit -> end.
            edges = [started, *marks, done]
            stretches = zip(edges[::2], edges[1::2], strict=True)
            figures["gap"].append(max(b - a for a, b in stretches))
            figures["image"].append(done - started)
            figures["inside"].append(inside[0])
            figures["count"].append(len(marks) / 2)
    return modes
