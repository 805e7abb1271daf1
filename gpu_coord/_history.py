"""Reading the lease's history: :func:`history` returns its events, oldest first.

The log (see :mod:`gpu_coord._events`) is read under the state lock held
shared, with the same short patience as a status read, so a rotation in
progress is never seen half done. Lines that are not events (a torn write
from a dying process, garbage) are skipped.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

from ._events import files_of
from ._locks import SH, close, open_lock_readonly, try_lock, unlock
from ._paths import LeaseFiles, lease_files
from ._time import parse_utc

EVENTS = ("grant", "release", "yield", "forced", "forced_release", "reclaim", "freeze", "thaw")
_PATIENCE = 0.05


@dataclass(frozen=True)
class LeaseEvent:
    """One event of a device's lease.

    ``event`` is one of grant, release, yield (a release to let high-priority
    work in), forced (a high caller went ahead after ``max_wait``), forced_release (that
    caller done, with its ``held_seconds``; same generation as its forced), reclaim (a
    dead holder's lease taken over; ``owner``/``pid`` are the dead holder's,
    ``by`` the new one), freeze and thaw (a preemptible hold). ``timestamp`` is
    ``at`` in seconds since the epoch.
    """

    event: str
    at: str
    timestamp: float
    owner: str | None
    priority: str | None
    pid: int | None
    host: str | None
    generation: int | None
    wait_seconds: float | None = None
    waited: bool = False
    held_seconds: float | None = None
    freed_bytes: int | None = None
    frozen_seconds: float | None = None
    by: str | None = None


def history(
    device: int = 0, *, path: str | os.PathLike[str] | None = None, since: float | None = None
) -> list[LeaseEvent]:
    """The events of ``device``'s lease, oldest first; ``since``: a Unix time (``time.time()``).

    Only what the log still holds (it rotates by size); never raises on a bad log.
    """
    events = read_events(lease_files(path, device))
    if since is None:
        return events
    return [e for e in events if e.timestamp >= since]


def read_events(files: LeaseFiles) -> list[LeaseEvent]:
    """Every event the log holds, oldest first."""
    found = []
    for line in _read_lines(files):
        event = _parse(line)
        if event is not None:
            found.append(event)
    return found


def _read_lines(files: LeaseFiles) -> list[bytes]:
    fd = open_lock_readonly(files.state_lock)
    locked = False
    chunks: list[bytes] = []
    try:
        if fd is not None:
            give_up = time.monotonic() + _PATIENCE
            while not (locked := try_lock(fd, SH)) and time.monotonic() < give_up:
                time.sleep(0.001)
        for log in files_of(files.events):
            try:
                chunks.append(log.read_bytes())
            except OSError:
                continue
    finally:
        if fd is not None:
            if locked:
                unlock(fd)
            close(fd)
    return b"".join(c if c.endswith(b"\n") or not c else c + b"\n" for c in chunks).splitlines()


def _parse(line: bytes) -> LeaseEvent | None:
    try:
        raw = json.loads(line)
    except ValueError:
        return None
    if not isinstance(raw, dict) or raw.get("event") not in EVENTS:
        return None
    try:
        timestamp = parse_utc(raw["at"])
    except (KeyError, ValueError):
        return None
    return LeaseEvent(
        event=raw["event"],
        at=raw["at"],
        timestamp=timestamp,
        owner=_typed(raw, "owner", str),
        priority=_typed(raw, "priority", str),
        pid=_typed(raw, "pid", int),
        host=_typed(raw, "host", str),
        generation=_typed(raw, "generation", int),
        wait_seconds=_number(raw, "wait_seconds"),
        waited=raw.get("waited") is True,
        held_seconds=_number(raw, "held_seconds"),
        freed_bytes=_typed(raw, "freed_bytes", int),
        frozen_seconds=_number(raw, "frozen_seconds"),
        by=_typed(raw, "by", str),
    )


def _typed(raw: dict[str, Any], key: str, kind: type) -> Any:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, kind):
        return None
    return value


def _number(raw: dict[str, Any], key: str) -> float | None:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
