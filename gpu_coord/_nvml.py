"""A small NVML helper: what the card says about memory and energy.

nvidia-ml-py is optional: without it, without a driver, or without the GPU, the
helper returns None. ``nvmlInit`` runs once per process and its outcome is cached.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Any

_INIT_MUTEX = threading.Lock()
_state: dict[str, Any] = {"tried": False, "nvml": None}


@dataclass(frozen=True)
class GpuSnapshot:
    """One reading of a GPU. ``energy_mj`` is the card's total energy counter in
    millijoules since the driver loaded, or None where the card does not report it."""

    name: str
    memory_total_bytes: int
    memory_used_bytes: int
    energy_mj: int | None


def _nvml() -> Any | None:
    with _INIT_MUTEX:
        if not _state["tried"]:
            _state["tried"] = True
            try:
                import pynvml

                pynvml.nvmlInit()
            except Exception:  # no package, no library, no driver: all mean "no GPU view"
                _state["nvml"] = None
            else:
                _state["nvml"] = pynvml
        return _state["nvml"]


def gpu_snapshot(device: int = 0) -> GpuSnapshot | None:
    """Read name, memory and energy of ``device``; None when NVML or the GPU is unavailable."""
    nvml = _nvml()
    if nvml is None:
        return None
    try:
        handle = nvml.nvmlDeviceGetHandleByIndex(device)
        name = nvml.nvmlDeviceGetName(handle)
        memory = nvml.nvmlDeviceGetMemoryInfo(handle)
    except Exception:  # index out of range, GPU lost, driver error
        return None
    energy: int | None = None
    with contextlib.suppress(Exception):  # NVMLError_NotSupported on older cards
        energy = int(nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
    if isinstance(name, bytes):
        name = name.decode(errors="replace")
    return GpuSnapshot(
        name=str(name),
        memory_total_bytes=int(memory.total),
        memory_used_bytes=int(memory.used),
        energy_mj=energy,
    )
