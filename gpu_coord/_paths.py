"""Where a lease lives: the record file and the lock files beside it.

The record path comes from the ``path`` argument, else ``GPU_COORD_PATH``, else
:data:`DEFAULT_PATH` (``/tmp/gpu-coord/status.json``). ``/tmp`` is the one folder
every process on a Linux host reaches, whatever its working directory or user, so
two processes that set nothing still meet. Device 0 uses the record path itself
and the lock names of the design (``gpu.lock``, ``priority.lock``, ``state.lock``,
``waiters/``); device ``d > 0`` uses ``status.gpu<d>.json``, ``gpu<d>.lock``, and so on,
in the same folder. Beside them: ``residents/`` (processes keeping memory on the
device) and ``events.jsonl`` (the lease's history, rotated to ``events.jsonl.1``).

``GPU_COORD_HISTORY=off`` (or ``0``, ``no``, ``false``) stops writing the history
(the lease works the same; ``history`` and ``usage`` then see nothing new).
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "GPU_COORD_PATH"
HISTORY_ENV = "GPU_COORD_HISTORY"
_OFF = ("off", "0", "no", "false")
DEFAULT_PATH = Path("/tmp/gpu-coord/status.json")

_DEVICE_LOCK = re.compile(r"^gpu(\d*)\.lock$")


@dataclass(frozen=True)
class LeaseFiles:
    """The files of one device's lease."""

    device: int
    record: Path
    folder: Path
    gpu_lock: Path
    priority_lock: Path
    state_lock: Path
    waiters: Path
    residents: Path
    events: Path
    #: False when ``GPU_COORD_HISTORY`` turns the event log off.
    history: bool


def record_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The record path for ``path``, ``GPU_COORD_PATH`` or the default, in that order."""
    if path is not None:
        chosen = os.fspath(path)
        if not chosen:
            raise ValueError("path: must not be empty")
        return Path(chosen).expanduser().absolute()
    env = os.environ.get(ENV_VAR, "")
    return Path(env).expanduser().absolute() if env else DEFAULT_PATH


def check_device(device: object) -> int:
    """Validate a device index (``None`` means 0)."""
    if device is None:
        return 0
    if isinstance(device, bool) or not isinstance(device, int) or device < 0:
        raise ValueError(f"device: must be a non-negative int or None, got {device!r}")
    return device


def lease_files(
    path: str | os.PathLike[str] | None = None, device: int | None = None
) -> LeaseFiles:
    """The files for ``device`` of the lease whose record is ``path``."""
    index = check_device(device)
    chosen = os.environ.get(ENV_VAR, "") if path is None else os.fspath(path)
    if path is not None and not chosen:
        raise ValueError("path: must not be empty")
    if chosen and not chosen.startswith("/"):
        chosen = str(Path.cwd() / chosen)
    history = os.environ.get(HISTORY_ENV, "").strip().lower() not in _OFF
    return _lease_files(chosen, index, history)


@functools.lru_cache(maxsize=64)
def _lease_files(chosen: str, index: int, history: bool) -> LeaseFiles:
    # Building the paths cost more than a whole uncontended grant; they are cached.
    record = record_path(chosen or None)
    folder = record.parent
    tag = "" if index == 0 else str(index)
    if index:
        record = folder / f"{record.stem}.gpu{index}{record.suffix}"
    return LeaseFiles(
        device=index,
        record=record,
        folder=folder,
        gpu_lock=folder / f"gpu{tag}.lock",
        priority_lock=folder / f"priority{tag}.lock",
        state_lock=folder / f"state{tag}.lock",
        waiters=folder / f"waiters{tag}",
        residents=folder / f"residents{tag}",
        events=folder / f"events{tag}.jsonl",
        history=history,
    )


def devices(path: str | os.PathLike[str] | None = None) -> list[int]:
    """Device indices that have a lease in the folder of ``path``; never raises."""
    record = record_path(path)
    found: set[int] = set()
    try:
        # Names only: iterdir() built a Path per entry, which cost more than the listing.
        names = os.listdir(record.parent)  # noqa: PTH208 (names only, on every poll)
    except OSError:
        return []
    pattern = _record_pattern(record.stem, record.suffix)
    for name in names:
        match = _DEVICE_LOCK.match(name) or pattern.match(name)
        if match:
            found.add(int(match.group(1) or 0))
    return sorted(found)


@functools.lru_cache(maxsize=64)
def _record_pattern(stem: str, suffix: str) -> re.Pattern[str]:
    # Compiled once per record name: /gpu-status lists the devices on every poll.
    return re.compile(rf"^{re.escape(stem)}(?:\.gpu(\d+))?{re.escape(suffix)}$")
