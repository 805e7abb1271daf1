"""Resources checked before work: what the host has, what running jobs were given, what is left.

CPUs, RAM and disk come from psutil; GPUs and their memory from gpu_coord (NVML through
``gpu_snapshot``, and the lease's memory budget where gpu_coord has it). A job asking for more
than the host has at all is refused (:class:`jobs.errors.NeverFits`, naming the resource and
both figures); one that fits later waits in the queue with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

import gpu_coord
from jobs.errors import NeverFits
from jobs.spec import Resources


def human(size: int | float) -> str:
    """Bytes the way people read them (1.5 GiB)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


@dataclass(frozen=True)
class Gpu:
    """One device: its total memory and, where the budget knows it, what a newcomer may take."""

    device: int
    memory_total_bytes: int
    available_bytes: int | None
    reason: str | None = None


@dataclass(frozen=True)
class Host:
    """What this host has, measured now."""

    cpus: int
    ram_total_bytes: int
    ram_available_bytes: int
    disk_total_bytes: int
    disk_free_bytes: int
    gpus: tuple[Gpu, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Given:
    """What the running jobs were given (subtracted from what the next one may have)."""

    cpus: int = 0
    ram_bytes: int = 0
    storage_bytes: int = 0
    devices: set[int] = field(default_factory=set)

    def add(self, resources: Resources, device: int | None) -> None:
        self.cpus += resources.cpu
        self.ram_bytes += resources.ram
        self.storage_bytes += resources.storage
        if device is not None:
            self.devices.add(device)


@dataclass(frozen=True)
class Placement:
    """Whether a job may start now; when not, why (shown on the queued job)."""

    ok: bool
    reason: str | None
    device: int | None
    check: dict[str, Any]


def _gpus(path: Path | None) -> tuple[Gpu, ...]:
    found = []
    for device in range(64):
        snapshot = gpu_coord.gpu_snapshot(device)
        if snapshot is None:
            break
        # The lease's budget: what a newcomer may take without pushing a resident past its peak.
        budget = gpu_coord.memory_budget(device, path=path)
        available = budget.available_bytes if budget.known else None
        found.append(Gpu(device, int(snapshot.memory_total_bytes), available, budget.reason))
    return tuple(found)


def measure_host(data_dir: Path, *, gpu_coord_path: Path | None = None) -> Host:
    """The host's CPUs (this process's affinity), RAM and the disk under ``data_dir``; GPUs."""
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage(str(data_dir))
    return Host(
        cpus=len(os.sched_getaffinity(0)),
        ram_total_bytes=int(memory.total),
        ram_available_bytes=int(memory.available),
        disk_total_bytes=int(disk.total),
        disk_free_bytes=int(disk.free),
        gpus=_gpus(gpu_coord_path),
    )


def refuse_never_fits(resources: Resources, host: Host) -> None:
    """Raise :class:`NeverFits` when the job can never run on this host, naming both figures."""
    if resources.cpu > host.cpus:
        raise NeverFits(
            f"resources.cpu: {resources.cpu} CPUs requested, this host has {host.cpus}",
            param="resources.cpu",
        )
    if resources.ram > host.ram_total_bytes:
        raise NeverFits(
            f"resources.ram: {human(resources.ram)} requested, this host has "
            f"{human(host.ram_total_bytes)} of RAM",
            param="resources.ram",
        )
    if resources.storage > host.disk_total_bytes:
        raise NeverFits(
            f"resources.storage: {human(resources.storage)} requested, the job disk has "
            f"{human(host.disk_total_bytes)} in all",
            param="resources.storage",
        )
    if resources.gpu > len(host.gpus):
        raise NeverFits(
            f"resources.gpu: {resources.gpu} GPU requested, this host has {len(host.gpus)}"
            + ("" if host.gpus else " (NVML sees no NVIDIA GPU)"),
            param="resources.gpu",
        )
    if resources.gpu_memory is not None and host.gpus:
        largest = max(gpu.memory_total_bytes for gpu in host.gpus)
        if resources.gpu_memory > largest:
            raise NeverFits(
                f"resources.gpu_memory: {human(resources.gpu_memory)} requested, the largest "
                f"GPU here has {human(largest)}",
                param="resources.gpu_memory",
            )


def place(resources: Resources, host: Host, given: Given) -> Placement:
    """Whether ``resources`` fit in what is left now; the first device that fits, for GPU jobs."""
    cpus_left = host.cpus - given.cpus
    ram_left = min(host.ram_available_bytes, host.ram_total_bytes - given.ram_bytes)
    disk_left = host.disk_free_bytes - given.storage_bytes
    check: dict[str, Any] = {
        "requested": resources.model_dump(),
        "host": host.as_dict(),
        "given_to_running_jobs": {
            "cpus": given.cpus,
            "ram_bytes": given.ram_bytes,
            "storage_bytes": given.storage_bytes,
            "devices": sorted(given.devices),
        },
        "left": {"cpus": cpus_left, "ram_bytes": ram_left, "disk_bytes": disk_left},
    }

    def wait(reason: str) -> Placement:
        return Placement(False, reason, None, {**check, "fits_now": False, "reason": reason})

    if resources.cpu > cpus_left:
        return wait(
            f"waiting for CPUs: {resources.cpu} requested, {cpus_left} of {host.cpus} free "
            f"({given.cpus} given to running jobs)"
        )
    if resources.ram > ram_left:
        return wait(
            f"waiting for RAM: {human(resources.ram)} requested, {human(ram_left)} free "
            f"({human(given.ram_bytes)} given to running jobs)"
        )
    if resources.storage > disk_left:
        return wait(
            f"waiting for disk: {human(resources.storage)} requested, {human(disk_left)} free"
        )
    device: int | None = None
    if resources.gpu:
        device, reason = _free_device(resources, host.gpus, given.devices)
        if device is None:
            return wait(reason)
    return Placement(True, None, device, {**check, "fits_now": True, "device": device})


def _free_device(
    resources: Resources, gpus: Iterable[Gpu], busy: set[int]
) -> tuple[int | None, str]:
    reasons = []
    for gpu in gpus:
        if gpu.device in busy:
            reasons.append(f"GPU {gpu.device} runs another job")
            continue
        need = resources.gpu_memory
        if need is not None and gpu.available_bytes is not None and need > gpu.available_bytes:
            reasons.append(
                f"GPU {gpu.device}: {human(need)} requested, {human(gpu.available_bytes)} "
                "available by the memory budget"
            )
            continue
        return gpu.device, ""
    return None, "waiting for a GPU: " + "; ".join(reasons or ["no device"])
