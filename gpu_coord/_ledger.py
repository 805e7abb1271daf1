"""What a lease handle writes under the state lock: the counter, the record, the history.

The kernel locks are the lease; these writes only tell about it. So a write
that fails for want of space (``ENOSPC``, ``EDQUOT``) never fails a grant or a
release: the lease goes on and :attr:`Ledger.problem` says what was not written.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import _events
from ._locks import EX, checkin, checkout, close, lock, open_lock, track, unlock
from ._paths import LeaseFiles
from ._record import (
    HOST_JSON,
    busy_record,
    free_record,
    normalise,
    open_record,
    parse_raw,
    read_bytes,
    read_state,
    release_entry,
    write_generation,
    write_last_release,
    write_record,
)
from ._time import utc_now

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_BUSY = b'"busy": true'


class Ledger:
    """The state-lock writes of one :class:`~gpu_coord.Lease` handle."""

    def __init__(self, files: LeaseFiles) -> None:
        self.files = files
        self.state_fd: int | None = None
        self.record_fd: int | None = None
        self.record_size = 0
        #: Why the last write did not reach the disk (None when everything was written).
        self.problem: str | None = None

    def _open(self, *, check: bool) -> tuple[int, int]:
        if self.state_fd is None:
            self.state_fd = checkout(self.files.state_lock, open_lock)
        if self.record_fd is None:
            self.record_fd = checkout(self.files.record, open_record)
        if check:
            size = _size_if_same(self.record_fd, self.files.record)
            if size is None:
                # Someone removed or replaced the record: write (so repair) the one at the path.
                close(self.record_fd)
                self.record_fd = track(open_record(self.files.record))
                size = os.fstat(self.record_fd).st_size
            self.record_size = size
        return self.state_fd, self.record_fd

    def grant(
        self, owner: str, priority: str, *, forced: bool, wait_seconds: float, waited: bool
    ) -> int:
        """Count a grant, show it in the record and the history; return its generation."""
        state_fd, record_fd = self._open(check=True)
        at = utc_now()
        pid = os.getpid()
        lock(state_fd, EX)
        try:
            self.problem = None
            counter, last = read_state(state_fd)
            generation = counter + 1
            self._guard(write_generation, state_fd, generation)
            if not forced:
                if _BUSY in os.pread(record_fd, 64, 0):
                    self._reclaim(at, owner)  # the previous holder died holding the lease
                data = busy_record(self.files.device, owner, priority, generation, last, at)
                size = self._guard(write_record, record_fd, data, self.record_size)
                if size is not None:
                    self.record_size = size
            kind = "forced" if forced else "grant"
            self._log(
                at,
                kind,
                f"{_events.holder_fields(owner, priority, pid, HOST_JSON, generation)}, "
                f'"wait_seconds": {wait_seconds:.6f}, "waited": {"true" if waited else "false"}',
            )
        finally:
            unlock(state_fd)
        return generation

    def release(
        self,
        owner: str,
        priority: str,
        generation: int,
        *,
        held_seconds: float,
        freed_bytes: int | None,
        handoff: bool,
    ) -> None:
        """Show the lease free in the record and log a release (``handoff``: a yield)."""
        state_fd, record_fd = self._open(check=False)
        at = utc_now()
        last = release_entry(owner, held_seconds, generation, freed_bytes, at)
        lock(state_fd, EX)
        try:
            self.problem = None
            self._guard(write_last_release, state_fd, last)
            data = free_record(self.files.device, generation, last)
            size = self._guard(write_record, record_fd, data, self.record_size)
            if size is not None:
                self.record_size = size
            freed = "null" if freed_bytes is None else str(freed_bytes)
            self._log(
                at,
                "yield" if handoff else "release",
                f"{_events.holder_fields(owner, priority, os.getpid(), HOST_JSON, generation)}, "
                f'"held_seconds": {held_seconds:.6f}, "freed_bytes": {freed}',
            )
        finally:
            unlock(state_fd)

    def forced_release(
        self,
        owner: str,
        priority: str,
        generation: int,
        *,
        held_seconds: float,
        freed_bytes: int | None,
    ) -> None:
        """Log the end of a forced run (``forced_release``); the record is not touched, as
        the forced grant never showed in it (the real holder, if any, still holds)."""
        freed = "null" if freed_bytes is None else str(freed_bytes)
        self.note(
            "forced_release",
            owner,
            priority,
            generation,
            f'"held_seconds": {held_seconds:.6f}, "freed_bytes": {freed}',
        )

    def note(self, event: str, owner: str, priority: str, generation: int, extra: str = "") -> None:
        """Log ``event`` (freeze, thaw) in the history, in order with the lease's own."""
        state_fd, _ = self._open(check=False)
        fields = _events.holder_fields(owner, priority, os.getpid(), HOST_JSON, generation)
        lock(state_fd, EX)
        try:
            self._log(utc_now(), event, fields + (f", {extra}" if extra else ""))
        finally:
            unlock(state_fd)

    def _reclaim(self, at: str, owner: str) -> None:
        data, _ = read_bytes(self.files.record)
        raw, _ = (None, None) if data is None else parse_raw(data)
        record, _ = normalise(raw or {})
        fields = {k: record[k] for k in ("owner", "priority", "pid", "host", "generation")}
        fields["by"] = owner
        self._log(at, "reclaim", _events.dump_json(fields)[1:-1])

    def _log(self, at: str, event: str, fields: str) -> None:
        if not self.files.history:
            return
        problem = _events.append(self.files.events, _events.event_line(at, event, fields))
        if problem is not None:
            self.problem = problem

    def _guard(self, write: Callable[..., object], *args: Any) -> int | None:
        try:
            result = write(*args)
        except OSError as exc:
            if exc.errno not in _NO_SPACE:
                raise
            self.problem = f"lease state not written ({exc.strerror}); the lease still works"
            return None
        return result if isinstance(result, int) else None

    def forget(self) -> None:
        """In a forked child: the inherited descriptors were closed at fork."""
        self.state_fd = self.record_fd = None

    def checkin(self) -> None:
        """Hand the (unlocked) descriptors back to the process pool."""
        checkin(self.files.state_lock, self.state_fd)
        checkin(self.files.record, self.record_fd)
        self.state_fd = self.record_fd = None

    def close(self) -> None:
        close(self.state_fd)
        close(self.record_fd)
        self.state_fd = self.record_fd = None


def _size_if_same(fd: int, path: Path) -> int | None:
    """The file's size when ``fd`` is still the file at ``path``, else None."""
    try:
        on_disk, open_one = path.stat(), os.fstat(fd)
    except OSError:
        return None
    if (on_disk.st_ino, on_disk.st_dev) != (open_one.st_ino, open_one.st_dev):
        return None
    return open_one.st_size
