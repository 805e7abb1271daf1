"""Live waiters and forced holders: one small locked file each.

A waiter writes its details into a hidden temp file, locks it, then renames it
into the waiters folder, so a listed file is always locked while its process
waits. A reader that can lock a listed file knows its waiter is gone (granted,
or dead: the kernel drops the lock of a killed process) and removes it, so
dead waiters vanish from the next status read.
"""

from __future__ import annotations

import contextlib
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


def add(folder: Path, details: dict[str, Any]) -> Entry:
    """Register ``details`` (owner, priority, since, state, ...) as a live entry."""
    make_folder(folder)
    live(folder)  # sweeps entries left by waiters that were granted or died
    name = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    tmp = folder / f".{name}.tmp"
    fd = track(os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, json.dumps(details).encode())
        final = folder / f"{name}.json"
        tmp.rename(final)
    except BaseException:
        close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return Entry(fd, final)


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
    found: list[dict[str, Any]] = []
    for item in scan:
        if item.name.endswith(".tmp"):
            _drop_orphan_tmp(item)
            continue
        if not item.name.endswith(".json"):
            continue
        details = _read_live(Path(item.path))
        if details is not None:
            found.append(details)
    found.sort(key=lambda d: str(d.get("since", "")))
    return found


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
    try:
        details = json.loads(data)
    except ValueError:
        return None
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
