"""What ``GET /gpu-status`` reports: the backend's own lease and every device with a lease."""

from __future__ import annotations

from typing import Any

from backend.lease import backend_lease_device
from backend.settings import Settings
from gpu_coord import devices, read_status


def gpu_status(settings: Settings) -> dict[str, Any]:
    """The backend's own device at the top level, every device with a lease under ``devices``.

    The top level keeps the seeds' contract (``busy``, ``owner``, ``since``) plus the rest of
    the record exactly as :func:`gpu_coord.read_status` returns it: priority, pid, host,
    generation, ``last_release``, ``waiters``, ``forced``, ``stale`` and ``reason``, and the
    GPU's name and memory from NVML (``None`` where there is no GPU). Never raises on a bad or
    missing record: ``read_status`` reports those as not busy with a reason.
    """
    path = settings.gpu_coord_path
    own = backend_lease_device(settings)
    indices = sorted(set(devices(path)) | {own})
    records = {index: read_status(path, device=index) for index in indices}
    result = dict(records[own])
    result["devices"] = [records[index] for index in indices]
    return result
