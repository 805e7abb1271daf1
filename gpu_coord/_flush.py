"""CUDA flush on release: hand the next holder a clean card.

Runs only where torch is already imported and CUDA initialised: gpu_coord never
imports torch itself, so a process that never touched CUDA pays nothing.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

POLICIES = ("always", "on_handoff", "never")


def cuda_flush(device: int) -> int | None:
    """Synchronise, collect and empty the CUDA cache of ``device``.

    Returns the bytes it gave back (torch's reserved memory before minus after),
    or None when it did not run (no torch, or CUDA never initialised here).
    """
    cuda = _cuda()
    if cuda is None:
        return None
    target = device if device < cuda.device_count() else None
    cuda.synchronize(target)
    before = int(cuda.memory_reserved(target))
    gc.collect()
    cuda.empty_cache()
    cuda.ipc_collect()
    return max(0, before - int(cuda.memory_reserved(target)))


def torch_memory(device: int) -> tuple[int, int] | None:
    """torch's own (reserved, allocated) bytes on ``device``; None where CUDA is not in use."""
    cuda = _cuda()
    if cuda is None or device >= cuda.device_count():
        return None
    return int(cuda.memory_reserved(device)), int(cuda.memory_allocated(device))


def _cuda() -> Any | None:
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    cuda = getattr(torch, "cuda", None)
    if cuda is None or not cuda.is_initialized():
        return None
    return cuda
