"""A small NVML helper: what the card says about memory, utilisation and energy.

nvidia-ml-py is optional: without it, without a driver, or without the GPU, the
helper returns None and :func:`nvml_problem` says why. ``nvmlInit`` runs once
per process and its outcome is cached.

Recorded figures instead of a card: when ``GPU_COORD_NVML_FILE`` names a JSON
file, every reading comes from it (read afresh on each call), so tests and
demonstrations replay real figures without NVML. The file maps a device index
to its reading::

    {"0": {"name": "NVIDIA H100", "memory_total_bytes": 85899345920,
           "memory_used_bytes": 4294967296, "utilization_percent": 0,
           "uuid": "GPU-5a1d..."}}

A device missing from the file reads as absent. This is the module's one
boundary with the card: the lease itself is never replaced.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from dataclasses import dataclass
from typing import Any

NVML_FILE_ENV = "GPU_COORD_NVML_FILE"

_INIT_MUTEX = threading.Lock()
_state: dict[str, Any] = {"tried": False, "nvml": None, "problem": None}


@dataclass(frozen=True)
class GpuSnapshot:
    """One reading of a GPU. ``energy_mj`` is the card's total energy counter in
    millijoules since the driver loaded, or None where the card does not report it;
    ``utilization_percent`` is the share of the last sample period a kernel ran.
    ``uuid`` (``GPU-...``) names the card the same way in every container, where the
    index is only this process's view (a container that sees one GPU calls it 0)."""

    name: str
    memory_total_bytes: int
    memory_used_bytes: int
    energy_mj: int | None
    utilization_percent: int | None = None
    uuid: str | None = None


def _nvml() -> Any | None:
    with _INIT_MUTEX:
        if not _state["tried"]:
            _state["tried"] = True
            try:
                import pynvml

                pynvml.nvmlInit()
            except ImportError:
                _state["problem"] = "nvidia-ml-py is not installed"
            except Exception as exc:  # no library, no driver: all mean "no GPU view"
                _state["problem"] = f"NVML did not start ({type(exc).__name__}: {exc})"
            else:
                _state["nvml"] = pynvml
        return _state["nvml"]


def nvml_problem(device: int = 0) -> str | None:
    """Why :func:`gpu_snapshot` has no reading of ``device`` (None when it has one)."""
    recorded = os.environ.get(NVML_FILE_ENV)
    if recorded:
        return None if _recorded(recorded, device) else f"no figures for GPU {device} in {recorded}"
    if _nvml() is None:
        return str(_state["problem"])
    return None if gpu_snapshot(device) is not None else f"NVML has no GPU {device}"


def gpu_snapshot(device: int = 0) -> GpuSnapshot | None:
    """Read name, memory, utilisation and energy of ``device``; None without NVML or the GPU."""
    recorded = os.environ.get(NVML_FILE_ENV)
    if recorded:
        return _recorded(recorded, device)
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
    utilization: int | None = None
    with contextlib.suppress(Exception):
        utilization = int(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
    uuid: str | None = None
    with contextlib.suppress(Exception):
        uuid = _text(nvml.nvmlDeviceGetUUID(handle))
    return GpuSnapshot(
        name=_text(name),
        memory_total_bytes=int(memory.total),
        memory_used_bytes=int(memory.used),
        energy_mj=energy,
        utilization_percent=utilization,
        uuid=uuid,
    )


def _text(value: Any) -> str:
    # Older nvidia-ml-py releases answer bytes.
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _recorded(path: str, device: int) -> GpuSnapshot | None:
    try:
        with open(path, encoding="utf-8") as handle:
            figures = json.load(handle)
        entry = figures[str(device)]
        return GpuSnapshot(
            name=str(entry.get("name", f"recorded GPU {device}")),
            memory_total_bytes=int(entry["memory_total_bytes"]),
            memory_used_bytes=int(entry["memory_used_bytes"]),
            energy_mj=None if entry.get("energy_mj") is None else int(entry["energy_mj"]),
            utilization_percent=(
                None
                if entry.get("utilization_percent") is None
                else int(entry["utilization_percent"])
            ),
            uuid=None if entry.get("uuid") is None else str(entry["uuid"]),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
