"""Live waiters and forced holders: one small locked file each.

A waiter writes its details into a hidden temp file, locks it, then renames it
into the waiters folder, so a listed file is always locked while its process
waits. A reader that can lock a listed file knows its waiter is gone (granted,
or dead: the kernel drops the lock of a killed process) and removes it, so
dead waiters vanish from the next status read. Residents (see
:mod:`gpu_coord._resident`) are entries of the same kind in their own folder.

On a full disk an entry is still registered when its file can be created (an
inode, no data block): its details are then unknown and a reader lists it as
``{"pid": ..., "unlisted": "..."}``. When not even that works the caller goes on
unlisted (``add`` returns None): waiting needs locks, not space.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._locks import close, make_folder, track, try_lock

_ORPHAN_TMP_SECONDS = 5.0


@dataclass
class Entry:
    """A registered waiter or forced holder; :func:`remove` ends it."""

    fd: int
    path: Path


_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def add(folder: Path, details: dict[str, Any]) -> Entry | None:
    """Register ``details`` (owner, priority, since, state, ...) as a live entry.

    Returns None when a full disk leaves no room even for an empty file.
    """
    make_folder(folder)
    live(folder)  # sweeps entries left by waiters that were granted or died
    # The registration time in the name orders entries registered in the same millisecond.
    name = f"{os.getpid()}-{time.time_ns():x}-{uuid.uuid4().hex[:8]}"
    tmp = folder / f".{name}.tmp"
    try:
        fd = track(os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644))
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            return None
        raise
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            os.write(fd, json.dumps(details).encode())
        except OSError as exc:
            if exc.errno not in _NO_SPACE:
                raise  # no room for the details: listed without them
        final = folder / f"{name}.json"
        tmp.rename(final)
    except BaseException as exc:
        close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
            return None
        raise
    return Entry(fd, final)


def rewrite(entry: Entry, details: dict[str, Any]) -> bool:
    """Replace an entry's details in place (it stays locked); False on a full disk."""
    data = json.dumps(details).encode()
    try:
        os.pwrite(entry.fd, data, 0)
        os.ftruncate(entry.fd, len(data))
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            return False
        raise
    return True


def leave(entry: Entry | None) -> None:
    """End a waiter entry on the grant path: only drop its lock.

    No unlink here: on a journalling filesystem a directory change can stall for
    milliseconds, and this runs between the wake-up and the grant. The file,
    now unlocked, reads as dead and is removed by the next status read or the
    next registration.
    """
    if entry is not None:
        close(entry.fd)


def remove(entry: Entry | None) -> None:
    """End an entry: unlink first, so no reader finds it unlocked."""
    if entry is None:
        return
    with contextlib.suppress(OSError):
        entry.path.unlink()
    close(entry.fd)


def live(folder: Path) -> list[dict[str, Any]]:
    """Details of the live entries, oldest first; removes dead ones. Never raises."""
    try:
        scan = list(os.scandir(folder))
    except OSError:
        return []
    found: list[tuple[str, int, dict[str, Any]]] = []
    for item in scan:
        if item.name.endswith(".tmp"):
            _drop_orphan_tmp(item)
            continue
        if not item.name.endswith(".json"):
            continue
        details = _read_live(Path(item.path))
        if details is not None:
            found.append((str(details.get("since", "")), _registered(item.name), details))
    found.sort(key=lambda entry: entry[:2])
    return [details for _, _, details in found]


def _registered(name: str) -> int:
    parts = name.split("-")
    try:
        return int(parts[1], 16) if len(parts) > 2 else 0
    except ValueError:
        return 0


def _read_live(path: Path) -> dict[str, Any] | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if try_lock(fd):
            # Nobody holds it: its process is gone.
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        data = os.read(fd, 65536)
    except OSError:
        return None
    finally:
        os.close(fd)
    if not data:
        pid = path.name.split("-", 1)[0]
        return {
            "pid": int(pid) if pid.isdigit() else None,
            "state": "waiting",
            "unlisted": "details not written (no space left on the device)",
        }
    try:
        details = json.loads(data)
    except ValueError:
        return None  # caught mid-rewrite (a resident updating): listed again next read
    return details if isinstance(details, dict) else None


def _drop_orphan_tmp(item: os.DirEntry[str]) -> None:
    # A registrant killed between create and rename leaves a hidden temp file.
    try:
        if time.time() - item.stat().st_mtime < _ORPHAN_TMP_SECONDS:
            return
        fd = os.open(item.path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if try_lock(fd):
            with contextlib.suppress(OSError):
                Path(item.path).unlink()
    finally:
        os.close(fd)
