"""The lease every GPU use of the backend runs in, on the device its model runs on."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from backend.job import Job
from backend.settings import Settings
from gpu_coord import Lease, LeaseCancelled, lease
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


def backend_lease(settings: Settings, *, cancel: threading.Event | None = None) -> Lease:
    """The high-priority lease every GPU use of the backend runs in (model load included)."""
    return lease(
        "backend",
        priority="high",
        max_wait=settings.max_wait,
        flush=settings.flush,
        path=settings.gpu_coord_path,
        device=backend_lease_device(settings),
        cancel=cancel,
    )


@contextlib.contextmanager
def job_lease(settings: Settings, job: Job) -> Iterator[Lease]:
    """The lease for one generation; cancelling the job ends the wait for it at once.

    A client that leaves (or a ``DELETE``) while the backend waits for a holder that does
    not yield frees the worker for the next request, instead of at the grant.
    """
    held = backend_lease(settings, cancel=job.cancel_event)
    try:
        held.acquire()
    except LeaseCancelled:
        job.stop_here(0)  # the job's own reason (a cancel, a timeout, the shutdown)
        raise
    try:
        yield held
    finally:
        held.release()
