"""Reading the lease: ``read_status``, which never fails on a bad record."""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

from . import _waiters
from ._locks import SH, close, open_lock_readonly, track, try_lock, unlock
from ._nvml import gpu_snapshot
from ._paths import LeaseFiles, lease_files
from ._record import FREE, normalise, parse_raw, read_bytes
from ._resident import read_residents
from ._time import utc_now

_READ_LOCK_PATIENCE = 0.05


def read_status(
    path: str | os.PathLike[str] | None = None, device: int | None = None
) -> dict[str, Any]:
    """The current record of ``device``'s lease, checked against the kernel locks.

    Never raises on a missing, empty, truncated or garbage record, a folder in
    its place, an unreadable file, or a record left by a dead holder: ``busy``
    is then False and ``reason`` says why (``stale`` is True for a dead
    holder). Only a bad ``device`` argument raises ValueError.

    Fields: everything in the stored record (``schema``, ``gpu``, ``busy``,
    ``owner``, ``since``, ``priority``, ``pid``, ``host``, ``generation``,
    ``last_release``) plus ``path``, ``reason``, ``stale``, ``stale_holder``,
    ``waiters`` (live ones, oldest first; ``state`` is ``"frozen"`` for a
    preempted hold waiting to take the lease back), ``forced``,
    ``forced_holders``, ``residents`` (owner, pid, host, resident_bytes,
    headroom_bytes, updated), ``gpu_name``, ``memory_total_bytes``,
    ``memory_used_bytes``, ``memory_free_bytes``, ``unaccounted_bytes`` (memory
    in use that no resident claims; all four None without NVML or a GPU) and
    ``checked_at``.
    """
    files = lease_files(path, device)
    try:
        return _read_status(files)
    except Exception as exc:  # the contract: a status read never fails
        status = dict(FREE)
        status.update(
            gpu=files.device,
            path=str(files.record),
            stale=False,
            stale_holder=None,
            reason=f"could not read the lease: {exc}",
            waiters=[],
            forced=False,
            forced_holders=[],
            residents=[],
            gpu_name=None,
            memory_total_bytes=None,
            memory_used_bytes=None,
            memory_free_bytes=None,
            unaccounted_bytes=None,
            checked_at=utc_now(),
        )
        return status


def _read_status(files: LeaseFiles) -> dict[str, Any]:
    status: dict[str, Any] = dict(FREE)
    raw, problem = _read_consistent(files)
    if raw is not None:
        record, problem = normalise(raw)
        status.update(record)
    status.update(gpu=files.device, path=str(files.record), stale=False, stale_holder=None)
    holder_alive = _gpu_lock_held(files)
    if status["busy"]:
        if holder_alive is False:
            status["stale"] = True
            status["stale_holder"] = {
                k: status[k] for k in ("owner", "since", "priority", "pid", "host")
            }
            status["reason"] = (
                f"stale record: holder {status['owner']!r} (pid {status['pid']} on "
                f"{status['host']}) is gone and the GPU lock is free"
            )
            status.update(busy=False, owner=None, since=None, priority=None, pid=None, host=None)
        elif holder_alive is None:
            status["reason"] = f"held by {status['owner']!r} (lock not checkable from here)"
        else:
            status["reason"] = f"held by {status['owner']!r}"
    elif holder_alive and problem is not None:
        status["busy"] = True
        status["reason"] = f"{problem}; the GPU lock is held by an unknown owner"
    else:
        status["reason"] = f"{problem}; GPU free" if problem else "GPU free"
    entries = _waiters.live(files.waiters)
    status["waiters"] = [e for e in entries if e.get("state") != "forced"]
    status["forced_holders"] = [e for e in entries if e.get("state") == "forced"]
    status["forced"] = bool(status["forced_holders"])
    residents = read_residents(files)
    status["residents"] = [dataclasses.asdict(r) for r in residents]
    snapshot = gpu_snapshot(files.device)
    status["gpu_name"] = snapshot.name if snapshot else None
    status["memory_total_bytes"] = snapshot.memory_total_bytes if snapshot else None
    status["memory_used_bytes"] = snapshot.memory_used_bytes if snapshot else None
    status["memory_free_bytes"] = (
        snapshot.memory_total_bytes - snapshot.memory_used_bytes if snapshot else None
    )
    status["unaccounted_bytes"] = (
        max(0, snapshot.memory_used_bytes - sum(r.resident_bytes or 0 for r in residents))
        if snapshot
        else None
    )
    status["checked_at"] = utc_now()
    return status


def _read_consistent(files: LeaseFiles) -> tuple[dict[str, Any] | None, str | None]:
    # Writers hold the state lock exclusively for a few microseconds; a shared hold
    # keeps a reader from seeing a write in progress. A stuck writer must not hang
    # the reader, so after a short patience it reads anyway.
    fd = open_lock_readonly(files.state_lock)
    locked = False
    try:
        if fd is not None:
            give_up = time.monotonic() + _READ_LOCK_PATIENCE
            while not (locked := try_lock(fd, SH)) and time.monotonic() < give_up:
                time.sleep(0.001)
        data, problem = read_bytes(files.record)
    except OSError as exc:
        return None, f"record not readable: {exc}"
    finally:
        if fd is not None:
            if locked:
                unlock(fd)
            close(fd)
    # Parse after the unlock: a reader holding the shared lock holds up the lease's
    # writers (grant and release), so it holds it for the read itself only.
    return (None, problem) if data is None else parse_raw(data)


def _gpu_lock_held(files: LeaseFiles) -> bool | None:
    """True when someone holds gpu.lock, False when free, None when unknowable."""
    try:
        fd = track(os.open(files.gpu_lock, os.O_RDONLY | os.O_CLOEXEC))
    except FileNotFoundError:
        return False  # never taken
    except OSError:
        return None
    try:
        if try_lock(fd):
            unlock(fd)
            return False
        return True
    except OSError:
        return None
    finally:
        close(fd)
