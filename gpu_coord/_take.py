"""How the lease is taken: the locking protocol.

Protocol (all locks are kernel flocks in the record's folder):

* ``gpu.lock``: held exclusively for the whole lease.
* ``priority.lock``: every high-priority waiter or holder holds it shared. A
  low-priority process that can take it exclusively (non-blocking) knows nobody
  with priority wants the GPU; a blocking exclusive request sleeps in the kernel
  until they are all done.
* ``state.lock``: a short mutex around the generation counter (kept in the file),
  every write of the JSON record and every line of the history (so its lines
  are in order).

Low acquire: take gpu, then check priority; if a high waiter exists, drop gpu,
sleep on priority, and go round. High acquire: priority shared, then gpu. A
killed holder's locks vanish with its process, so the next waiter is woken by
the kernel at once.

A waiting caller is listed in the waiters folder (:mod:`gpu_coord._waiters`).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import NoReturn

from . import _waiters
from ._errors import LeaseCancelled, LeaseTimeout
from ._ledger import Ledger
from ._locks import EX, SH, checkout, close, lock, open_lock, try_lock, unlock, wait_lock
from ._paths import LeaseFiles
from ._record import HOST
from ._time import utc_now


class Taker:
    """The lock-taking half of :class:`~gpu_coord.Lease` (its fields are set by Lease)."""

    owner: str
    priority: str
    max_wait: float | None
    timeout: float | None
    cancel: threading.Event | None
    forced: bool
    waiter_state: str
    _files: LeaseFiles
    _ledger: Ledger
    _gpu_fd: int | None
    _prio_fd: int | None
    _fd_pid: int
    _has_gpu: bool
    _has_prio: bool
    _waited_now: bool
    _forced_entry: _waiters.Entry | None

    def _fds(self) -> tuple[int, int]:
        if self._fd_pid != os.getpid():
            # A forked child: its copies of the parent's descriptors were closed at fork.
            self._gpu_fd = self._prio_fd = None
            self._ledger.forget()
            self._fd_pid = os.getpid()
        if self._prio_fd is None:
            self._prio_fd = checkout(self._files.priority_lock, open_lock)
        if self._gpu_fd is None:
            self._gpu_fd = checkout(self._files.gpu_lock, open_lock)
        return self._prio_fd, self._gpu_fd

    def _wait(self, path: Path, mode: int, fd: int, limit: float | None) -> int | None:
        """Block for ``mode`` on ``fd`` (no limit) or a fresh descriptor (limit, cancel)."""
        if limit is None and self.cancel is None:
            lock(fd, mode)
            return fd
        fresh = wait_lock(path, mode, limit, self.cancel)
        if fresh is not None:
            close(fd)
        return fresh

    def _waiter(self, state: str | None = None) -> _waiters.Entry | None:
        self._waited_now = True
        return _waiters.add(
            self._files.waiters,
            {
                "owner": self.owner,
                "priority": self.priority,
                "since": utc_now(),
                "pid": os.getpid(),
                "host": HOST,
                "state": state or self.waiter_state,
            },
        )

    def _take_high(self, start: float) -> None:
        self._check_cancel()
        prio, gpu = self._fds()
        lock(prio, SH)  # low-priority callers hold it exclusively only for an instant
        self._has_prio = True
        if try_lock(gpu, EX):
            self._has_gpu = True
            return
        entry = self._waiter()
        try:
            limits = [x for x in (self.max_wait, self.timeout) if x is not None]
            limit = None if not limits else max(0.0, min(limits) - (time.monotonic() - start))
            fresh = self._wait(self._files.gpu_lock, EX, gpu, limit)
            if fresh is not None:
                self._gpu_fd = fresh
                self._has_gpu = True
                return
            self._check_cancel()
            by_max_wait = self.max_wait is not None and (
                self.timeout is None or self.max_wait <= self.timeout
            )
            if by_max_wait:
                # The user's latency wins over exclusivity, visibly.
                self.forced = True
                self._forced_entry = self._waiter("forced")
                return
            raise LeaseTimeout(
                f"gpu_coord: lease for {self.owner!r} not granted within {self.timeout} s "
                f"({self._files.record})"
            )
        finally:
            _waiters.leave(entry)

    def _take_low(self, deadline: float | None) -> None:
        prio, gpu = self._fds()
        entry: _waiters.Entry | None = None
        try:
            while True:
                self._check_cancel()
                if try_lock(gpu, EX):
                    if try_lock(prio, EX):
                        unlock(prio)
                        self._has_gpu = True
                        return
                    unlock(gpu)
                if entry is None:
                    entry = self._waiter()
                # Sleep in the kernel until no high-priority caller waits or holds.
                fresh = self._wait(self._files.priority_lock, EX, prio, self._left(deadline))
                if fresh is None:
                    self._timed_out()
                prio = self._prio_fd = fresh
                unlock(prio)
                fresh = self._wait(self._files.gpu_lock, EX, gpu, self._left(deadline))
                if fresh is None:
                    self._timed_out()
                gpu = self._gpu_fd = fresh
                if try_lock(prio, EX):  # a high waiter may have slipped in meanwhile
                    unlock(prio)
                    self._has_gpu = True
                    return
                unlock(gpu)
        finally:
            _waiters.leave(entry)

    @staticmethod
    def _left(deadline: float | None) -> float | None:
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    def _check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise LeaseCancelled(
                f"gpu_coord: wait for the lease of {self.owner!r} cancelled ({self._files.record})"
            )

    def _timed_out(self) -> NoReturn:
        self._check_cancel()  # a wait cut short by its cancel is not a timeout
        raise LeaseTimeout(
            f"gpu_coord: lease for {self.owner!r} not granted within {self.timeout} s "
            f"({self._files.record})"
        )
