"""The lease every GPU use of the backend runs in, on the device its model runs on."""

from __future__ import annotations

from backend.settings import Settings
from gpu_coord import Lease, lease
from imagegen import lease_device, pick_device


def backend_lease_device(settings: Settings) -> int:
    """The gpu_coord device the backend holds: ``gpu_device`` when set, else its torch device's.

    The torch device is ``settings.device`` or, unset, the one :func:`imagegen.pick_device`
    chooses (the one the model is loaded on), mapped by :func:`imagegen.lease_device`.
    """
    if settings.gpu_device is not None:
        return settings.gpu_device
    device = settings.device
    if device is None or device == "auto":
        device = pick_device(None)
    return lease_device(device)


def backend_lease(settings: Settings) -> Lease:
    """The high-priority lease every GPU use of the backend runs in (model load included)."""
    return lease(
        "backend",
        priority="high",
        max_wait=settings.max_wait,
        flush=settings.flush,
        path=settings.gpu_coord_path,
        device=backend_lease_device(settings),
    )
