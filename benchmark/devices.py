"""Every device of the host: one worker per device, the models spread over them.

``[run] devices = "all"`` (every CUDA device torch sees) or ``devices = [0, 2]``
runs one worker per CUDA device, each in its own lease (lease N for
``cuda:N``, as ``imagegen.lease_device`` maps it). The CPU mode,
``device = "cpu"`` with ``lease_devices = [0, 1]``, runs one CPU worker per
lease: the same scheduling and the same leases, on a host without a GPU (the
tests, a laptop). Models go to devices longest first, each to the device with
the least work so far (:func:`spread`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["Slot", "check_device_list", "run_device_settings", "slots", "spread"]

T = TypeVar("T")


@dataclass(frozen=True)
class Slot:
    """Where one worker runs: the torch device and the lease it holds (None: the device's)."""

    device: str
    lease_device: int | None = None

    @property
    def label(self) -> str:
        """How progress lines and reports name it: ``cuda:1`` or ``cpu lease 1``."""
        if self.lease_device is None or self.device.startswith("cuda"):
            return self.device
        return f"{self.device} lease {self.lease_device}"


def check_device_list(value: Any, key: str, *, allow_all: bool) -> tuple[int, ...] | str:
    """``value`` as a tuple of distinct device indices (or ``"all"``); ValueError naming ``key``."""
    if allow_all and value == "all":
        return "all"
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    ):
        expected = '"all" or ' if allow_all else ""
        raise ValueError(
            f"{key}: expected {expected}a non-empty list of device indices, got {value!r}"
        )
    if len(set(value)) != len(value):
        raise ValueError(f"{key}: duplicate devices in {value!r}")
    return tuple(value)


def run_device_settings(
    data: Mapping[str, Any],
    get: Callable[[str, type, Any], Any],
    fail: Callable[[str, str], Exception],
) -> dict[str, Any]:
    """``devices``, ``lease_devices``, ``block_checkpoints``, ``isolation`` and
    ``container_image`` of the ``[run]`` table ``data``.

    ``get(key, type, default)`` reads a typed value and ``fail(key, reason)``
    makes the error naming the file and the key (``benchmark.config``'s table).
    """
    device = get("device", str, "auto")
    devices = lease_devices = None
    try:
        if "devices" in data:
            devices = check_device_list(data["devices"], "devices", allow_all=True)
        if "lease_devices" in data:
            lease_devices = check_device_list(
                data["lease_devices"], "lease_devices", allow_all=False
            )
    except ValueError as exc:
        key, _, reason = str(exc).partition(": ")
        raise fail(key, reason) from None
    if devices is not None and device not in ("auto", "cuda"):
        raise fail("devices", f'names CUDA devices; device = "{device}" says otherwise')
    if lease_devices is not None and device != "cpu":
        raise fail("lease_devices", 'is the CPU mode: it needs device = "cpu"')
    isolation = get("isolation", str, "process")
    if isolation not in ("process", "container"):
        raise fail("isolation", f'expected "process" or "container", got {isolation!r}')
    if isolation == "container" and importlib.util.find_spec("docker") is None:
        raise fail(
            "isolation", '"container" needs the Docker SDK (pip install docker), not installed'
        )
    image = get("container_image", str, "gpu-share-benchmark:latest")
    if not image.strip():
        raise fail("container_image", "must not be empty")
    return {
        "container_image": image,
        "devices": devices,
        "lease_devices": lease_devices,
        "block_checkpoints": get("block_checkpoints", bool, True),
        "isolation": isolation,
    }


def _cuda_count() -> int:
    import torch  # only for devices = "all"

    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


def slots(
    device: str,
    devices: tuple[int, ...] | str | None,
    lease_devices: tuple[int, ...] | None,
    *,
    cuda_count: Callable[[], int] = _cuda_count,
) -> list[Slot]:
    """The workers' places for a run's ``device``, ``devices`` and ``lease_devices``.

    Raises ValueError when ``devices = "all"`` finds no CUDA device.
    """
    if lease_devices is not None:
        return [Slot(device, n) for n in lease_devices]
    if devices is None:
        return [Slot(device)]
    if devices == "all":
        count = cuda_count()
        if count == 0:
            raise ValueError('devices = "all": torch sees no CUDA device on this host')
        return [Slot(f"cuda:{n}") for n in range(count)]
    return [Slot(f"cuda:{n}") for n in devices]


def spread(items: Sequence[T], cost: Callable[[T], float], count: int) -> list[list[T]]:
    """Deal ``items`` over ``count`` queues, longest first, each to the least loaded queue.

    The longest-processing-time rule: the run ends near when the busiest
    device ends, and no device idles while a long model waits behind short ones.
    Ties go to the lower device; within a queue the longer items come first.
    """
    queues: list[list[T]] = [[] for _ in range(count)]
    load = [0.0] * count
    for item in sorted(items, key=cost, reverse=True):
        target = min(range(count), key=lambda n: (load[n], n))
        queues[target].append(item)
        load[target] += cost(item)
    return queues
