"""What ``GET /gpu-status`` reports: the lease record(s) and, where there is a GPU, its memory."""

from __future__ import annotations

import logging
import threading
from typing import Any

from gpu_coord import devices, read_status

from backend.settings import Settings

log = logging.getLogger("backend")

_nvml_lock = threading.Lock()
_nvml_state: dict[str, Any] = {"initialised": False, "error": None}


def _nvml_ready() -> str | None:
    """Initialise NVML once per process; return why it is unavailable, or ``None`` if usable."""
    with _nvml_lock:
        if _nvml_state["initialised"]:
            return None
        if _nvml_state["error"] is not None:
            return str(_nvml_state["error"])
        try:
            import pynvml

            pynvml.nvmlInit()
        except Exception as exc:  # no driver, no library, no GPU: all the same to a status page
            _nvml_state["error"] = f"{type(exc).__name__}: {exc}"
            return str(_nvml_state["error"])
        _nvml_state["initialised"] = True
        return None


def gpu_memory(index: int) -> dict[str, Any]:
    """Memory of GPU ``index`` from NVML, or ``{"available": False, "reason": ...}``.

    Never raises: a host without a GPU is a normal answer here.
    """
    reason = _nvml_ready()
    if reason is not None:
        return {"available": False, "reason": reason}
    try:
        import pynvml

        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        info = pynvml.nvmlDeviceGetMemoryInfo(handle)
        name = pynvml.nvmlDeviceGetName(handle)
    except Exception as exc:
        return {"available": False, "reason": f"{type(exc).__name__}: {exc}"}
    return {
        "available": True,
        "name": name.decode() if isinstance(name, bytes) else str(name),
        "total_bytes": int(info.total),
        "used_bytes": int(info.used),
        "free_bytes": int(info.free),
    }


def gpu_status(settings: Settings) -> dict[str, Any]:
    """The record of the backend's device at the top level, every known device under ``devices``.

    The top level keeps the seeds' contract (``busy``, ``owner``, ``since``) plus the rest of the
    record as :func:`gpu_coord.read_status` returns it (waiters, last release, stale, forced...),
    and ``gpu_memory``.
    """
    path = settings.gpu_coord_path
    own = settings.gpu_device if settings.gpu_device is not None else 0
    try:
        indices = sorted(set(devices(path)) | {own})
    except Exception as exc:  # a broken record folder must not break the status page
        log.warning("cannot list lease devices: %s", exc)
        indices = [own]
    records: list[dict[str, Any]] = []
    for index in indices:
        record = dict(read_status(path, device=index))
        record.setdefault("gpu", index)
        record["gpu_memory"] = gpu_memory(index)
        records.append(record)
    primary = next(r for r, i in zip(records, indices, strict=True) if i == own)
    result = dict(primary)
    result["devices"] = records
    return result
