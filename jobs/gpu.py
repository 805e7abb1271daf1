"""The GPU side of a job: second to the backend through gpu_coord's preemptible hold.

A ``manager`` GPU job runs inside a low-priority lease the service holds for it on the job's
device (:class:`gpu_coord.PreemptibleHold`). When the backend asks for the GPU, the hold freezes
the container (the engine's pause: the cgroup freezer), hands the lease over, and thaws it when
the backend is done; the frozen time does not count against the job's timeout. The hold
registers the job's ``gpu_memory`` as a resident for its life (the memory stays on the card
while the job is frozen). A ``self`` job gets the lease folder and ``GPU_COORD_PATH``, takes
its own leases, and is registered as a resident by the service.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import gpu_coord


def lease_folder(path: Path | None) -> Path:
    """The folder of the lease record (``path``, else gpu_coord's own default)."""
    return Path(gpu_coord.record_path(path)).parent


def manager_hold(
    owner: str,
    *,
    device: int,
    path: Path | None,
    freeze: Callable[[], None],
    thaw: Callable[[], None],
    memory_bytes: int | None,
    cancel: threading.Event | None = None,
) -> gpu_coord.PreemptibleHold:
    """A low lease on ``device`` for the job, freezing/thawing it around each handoff.

    Setting ``cancel`` (the job's cancel) ends a wait for the lease at once.
    """
    return gpu_coord.PreemptibleHold(
        owner,
        freeze=freeze,
        thaw=thaw,
        priority="low",
        device=device,
        path=path,
        memory_bytes=memory_bytes,
        cancel=cancel,
    )


def resident_for(
    owner: str, *, device: int, path: Path | None, memory_bytes: int | None
) -> gpu_coord.Resident:
    """The job's GPU memory registered as a resident of ``device`` while it runs."""
    return gpu_coord.resident(owner, device=device, path=path, resident_bytes=memory_bytes)
