"""CUDA flush on release: hand the next holder a clean card.

Runs only where torch is already imported and CUDA initialised: gpu_coord never
imports torch itself, so a process that never touched CUDA pays nothing.
"""

from __future__ import annotations

import gc
import sys

POLICIES = ("always", "on_handoff", "never")


def cuda_flush(device: int) -> bool:
    """Synchronise, collect and empty the CUDA cache of ``device``; True when it ran."""
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    cuda = getattr(torch, "cuda", None)
    if cuda is None or not cuda.is_initialized():
        return False
    target = device if device < cuda.device_count() else None
    cuda.synchronize(target)
    gc.collect()
    cuda.empty_cache()
    cuda.ipc_collect()
    return True
