"""The backend's side of the GPU lease: the lease it takes, and what ``GET /gpu-status`` reports."""

from __future__ import annotations

import logging
from typing import Any

from backend.settings import Settings
from gpu_coord import Lease, devices, lease, read_status

log = logging.getLogger("backend")


def backend_lease(settings: Settings) -> Lease:
    """The high-priority lease every GPU use of the backend runs in (model load included)."""
    return lease(
        "backend",
        priority="high",
        max_wait=settings.max_wait,
        flush=settings.flush,
        path=settings.gpu_coord_path,
        device=settings.gpu_device,
    )


def gpu_status(settings: Settings) -> dict[str, Any]:
    """The backend's own device at the top level, every device with a lease under ``devices``.

    The top level keeps the seeds' contract (``busy``, ``owner``, ``since``) plus the rest of
    the record exactly as :func:`gpu_coord.read_status` returns it: priority, pid, host,
    generation, ``last_release``, ``waiters``, ``forced``, ``stale`` and ``reason``, and the
    GPU's name and memory from NVML (``None`` where there is no GPU). Never raises on a bad or
    missing record: ``read_status`` reports those as not busy with a reason.
    """
    path = settings.gpu_coord_path
    own = settings.gpu_device if settings.gpu_device is not None else 0
    indices = sorted(set(devices(path)) | {own})
    records = {index: read_status(path, device=index) for index in indices}
    result = dict(records[own])
    result["devices"] = [records[index] for index in indices]
    return result
