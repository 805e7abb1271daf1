"""Peak memory of the current process for one scenario: device memory on CUDA, RSS on the CPU."""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def reset_peak(device: str) -> None:
    """Start a new peak: CUDA's peak statistics, or Linux's high-water mark of the RSS."""
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
        return
    # Writing "5" resets VmHWM to the current RSS (Linux >= 4.0); elsewhere the peak
    # is the process's lifetime peak, which the report then overstates.
    with contextlib.suppress(OSError):
        _CLEAR_REFS.write_text("5")


def peak_bytes(device: str) -> int | None:
    """The peak since :func:`reset_peak`: CUDA memory reserved, or the RSS high-water mark."""
    if device.startswith("cuda"):
        return int(torch.cuda.max_memory_reserved(device))
    try:
        lines = _STATUS.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


def cuda_memory(device: str) -> tuple[int, int] | None:
    """(reserved, allocated) bytes on ``device`` now, or None off CUDA."""
    if not device.startswith("cuda"):
        return None
    return int(torch.cuda.memory_reserved(device)), int(torch.cuda.memory_allocated(device))
