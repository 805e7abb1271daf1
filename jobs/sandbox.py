"""The sandbox every job container gets: its limits and the engine options that enforce them.

Read-only root with a tmpfs ``/tmp``; no capabilities; no new privileges; no network unless
asked (then the engine's default bridge); CPUs by CFS quota, memory without swap (past it the
kernel's OOM killer ends the job), a pids limit; a GPU only through a device request for the
one device the job was given. The user is chosen by the caller (never root).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from docker.types import DeviceRequest

from gpu_coord import gpu_snapshot


@dataclass(frozen=True)
class Limits:
    """What the container may use. ``cpus=0`` sets no CPU cap (a low CPU weight instead).

    ``storage_bytes`` bounds what the job's folders (``/work`` and ``/output``) take on
    disk; no engine option does, so :class:`~jobs.docker_job.DockerJob` measures them while
    the job runs (:mod:`jobs.storage`). None: unbounded.
    """

    cpus: int = 1
    memory_bytes: int = 512 * 1024**2
    pids: int = 512
    tmp_bytes: int = 256 * 1024**2
    storage_bytes: int | None = None


def engine_device_id(device: int) -> str:
    """How to name this process's GPU ``device`` to the engine: its UUID where NVML reads it.

    The engine numbers GPUs as the host does; a process in a container that was given one
    GPU calls it 0. The UUID names the same card everywhere; the index is the fallback.
    """
    snapshot = gpu_snapshot(device)
    return snapshot.uuid if snapshot is not None and snapshot.uuid else str(device)


def sandbox_options(limits: Limits, *, network: bool, device: int | None) -> dict[str, Any]:
    """Keyword arguments for ``containers.create`` that make the sandbox."""
    options: dict[str, Any] = {
        "network_mode": "bridge" if network else "none",
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={limits.tmp_bytes}"},
        "security_opt": ["no-new-privileges:true"],
        "cap_drop": ["ALL"],
        "mem_limit": limits.memory_bytes,
        "memswap_limit": limits.memory_bytes,  # no swap: past the limit is an OOM kill
        "pids_limit": limits.pids,
    }
    if limits.cpus > 0:
        options["nano_cpus"] = int(limits.cpus * 1e9)
    else:
        options["cpu_shares"] = 2  # best effort: runs on what others leave
    if device is not None:
        options["device_requests"] = [
            DeviceRequest(device_ids=[engine_device_id(device)], capabilities=[["gpu"]])
        ]
    return options
