"""The lease: exclusive GPU use with priority, step-level yield and crash safety.

Protocol (all locks are kernel flocks in the record's folder):

* ``gpu.lock``: held exclusively for the whole lease.
* ``priority.lock``: every high-priority waiter or holder holds it shared. A
  low-priority process that can take it exclusively (non-blocking) knows nobody
  with priority wants the GPU; a blocking exclusive request sleeps in the kernel
  until they are all done.
* ``state.lock``: a short mutex around the generation counter (kept in the file)
  and every write of the JSON record.

Low acquire: take gpu, then check priority; if a high waiter exists, drop gpu,
sleep on priority, and go round. High acquire: priority shared, then gpu. A
killed holder's locks vanish with its process, so the next waiter is woken by
the kernel at once.
"""

from __future__ import annotations

import os
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import NoReturn

from . import _waiters
from ._errors import LeaseError, LeaseTimeout
from ._flush import POLICIES, cuda_flush
from ._locks import (
    EX,
    SH,
    checkin,
    checkout,
    close,
    lock,
    open_lock,
    track,
    try_lock,
    unlock,
    wait_lock,
)
from ._paths import lease_files
from ._record import (
    HOST,
    busy_record,
    free_record,
    open_record,
    read_state,
    release_entry,
    utc_now,
    write_generation,
    write_last_release,
    write_record,
)
from ._validate import PRIORITIES, check_choice, check_owner, check_seconds


class Lease:
    """A handle on one device's GPU lease; see :func:`lease`.

    One thread uses a handle at a time. A handle can be acquired again after
    release. ``wait_seconds`` and ``yields`` add up over the handle's life.
    """

    def __init__(
        self,
        owner: str,
        *,
        priority: str = "low",
        path: str | os.PathLike[str] | None = None,
        device: int | None = None,
        max_wait: float | None = None,
        flush: str = "always",
        calm_pause: float = 0.0,
        timeout: float | None = None,
    ) -> None:
        self.owner = check_owner(owner)
        self.priority = check_choice("priority", priority, PRIORITIES)
        self.flush = check_choice("flush", flush, POLICIES)
        self.max_wait = check_seconds("max_wait", max_wait, optional=True)
        if self.max_wait is not None and self.priority != "high":
            raise ValueError(
                "max_wait: only priority='high' may go ahead without the lease; "
                "use timeout to bound a low-priority wait"
            )
        self.calm_pause = check_seconds("calm_pause", calm_pause) or 0.0
        self.timeout = check_seconds("timeout", timeout, optional=True)
        self._files = lease_files(path, device)
        self.device = self._files.device
        self.generation: int | None = None
        self.forced = False
        self.wait_seconds = 0.0
        self.yields = 0
        self._held = False
        self._pid = 0
        self._gpu_fd: int | None = None
        self._prio_fd: int | None = None
        self._state_fd: int | None = None
        self._record_fd: int | None = None
        self._fd_pid = os.getpid()
        self._record_size = 0
        # Descriptors stay open between acquisitions (reopening cost more than the
        # whole grant); they close with the handle.
        self._finalizer = weakref.finalize(self, _close_all, self.__dict__)
        self._has_gpu = False
        self._has_prio = False
        self._forced_entry: _waiters.Entry | None = None
        self._since = 0.0

    # ------------------------------------------------------------------ public

    @property
    def path(self) -> Path:
        """The record file of this lease."""
        return self._files.record

    @property
    def held(self) -> bool:
        """True between a successful acquire and release (also when forced)."""
        return self._held

    def acquire(self) -> Lease:
        """Block until granted (or forced after ``max_wait``); return self.

        Raises :class:`LeaseTimeout` when ``timeout`` runs out first,
        :class:`LeasePathError` when the lease folder cannot be written, and
        :class:`LeaseError` when this handle already holds the lease.
        """
        if self._held:
            raise LeaseError(f"lease for {self.owner!r} is already held by this handle")
        self.forced = False
        start = time.monotonic()
        try:
            if self.priority == "high":
                self._take_high(start)
            else:
                deadline = None if self.timeout is None else start + self.timeout
                self._take_low(deadline)
            self.wait_seconds += time.monotonic() - start
            self._pid = os.getpid()
            self._held = True
            self._grant()
        except BaseException:
            self._abandon()
            raise
        return self

    def release(self) -> None:
        """Give the GPU back: update the record, flush CUDA per policy, unlock.

        A no-op when not held, or in a forked child of the holder.
        """
        if not self._held:
            return
        if os.getpid() != self._pid:
            self._held = False
            return
        try:
            if self._forced_entry is not None:
                self._forced_grant_end()
            elif self._has_gpu:
                self._give_gpu(handoff=False)
            if self._has_prio and self._prio_fd is not None:
                unlock(self._prio_fd)
                self._has_prio = False
        except BaseException:
            self._abandon()
            raise
        finally:
            self._held = False
        self._checkin()
        if self.calm_pause:
            time.sleep(self.calm_pause)

    def checkpoint(self) -> bool:
        """Yield to waiting high-priority work, then continue; True when it yielded.

        For a low-priority holder: returns at once (one non-blocking flock) when
        nobody with priority waits; otherwise releases (with flush), sleeps until
        the high-priority work is done, re-acquires without a timeout, and
        returns True. A high-priority or forced holder never yields.
        """
        if not self._has_gpu or self.priority == "high":
            return False
        prio = self._prio_fd
        if prio is not None and try_lock(prio, EX):
            unlock(prio)
            return False
        start = time.monotonic()
        try:
            self._give_gpu(handoff=True)
            self._take_low(None)
            self.wait_seconds += time.monotonic() - start
            self.yields += 1
            self._grant()
        except BaseException:
            self._abandon()
            raise
        return True

    def __enter__(self) -> Lease:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "forced" if self.forced and self._held else "held" if self._held else "free"
        return (
            f"Lease(owner={self.owner!r}, priority={self.priority!r}, device={self.device}, "
            f"generation={self.generation}, {state})"
        )

    # ----------------------------------------------------------------- acquire

    def _fds(self) -> tuple[int, int]:
        if self._fd_pid != os.getpid():
            # A forked child: its copies of the parent's descriptors were closed at fork.
            self._gpu_fd = self._prio_fd = self._state_fd = self._record_fd = None
            self._fd_pid = os.getpid()
        if self._prio_fd is None:
            self._prio_fd = checkout(self._files.priority_lock, open_lock)
        if self._gpu_fd is None:
            self._gpu_fd = checkout(self._files.gpu_lock, open_lock)
        return self._prio_fd, self._gpu_fd

    def _wait(self, path: Path, mode: int, fd: int, limit: float | None) -> int | None:
        """Block for ``mode`` on ``fd`` (no limit) or a fresh descriptor (limit)."""
        if limit is None:
            lock(fd, mode)
            return fd
        fresh = wait_lock(path, mode, limit)
        if fresh is not None:
            close(fd)
        return fresh

    def _waiter(self, state: str = "waiting") -> _waiters.Entry:
        return _waiters.add(
            self._files.waiters,
            {
                "owner": self.owner,
                "priority": self.priority,
                "since": utc_now(),
                "pid": os.getpid(),
                "host": HOST,
                "state": state,
            },
        )

    def _take_high(self, start: float) -> None:
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

    def _timed_out(self) -> NoReturn:
        raise LeaseTimeout(
            f"gpu_coord: lease for {self.owner!r} not granted within {self.timeout} s "
            f"({self._files.record})"
        )

    # ------------------------------------------------------------ bookkeeping

    def _state(self, *, check: bool) -> tuple[int, int]:
        if self._state_fd is None:
            self._state_fd = checkout(self._files.state_lock, open_lock)
        if self._record_fd is None:
            self._record_fd = checkout(self._files.record, open_record)
        if check:
            size = _size_if_same(self._record_fd, self._files.record)
            if size is None:
                # Someone removed or replaced the record: write (so repair) the one at the path.
                close(self._record_fd)
                self._record_fd = track(open_record(self._files.record))
                size = os.fstat(self._record_fd).st_size
            self._record_size = size
        return self._state_fd, self._record_fd

    def _grant(self) -> None:
        state_fd, record_fd = self._state(check=True)
        lock(state_fd, EX)
        try:
            counter, last = read_state(state_fd)
            self.generation = counter + 1
            write_generation(state_fd, self.generation)
            if not self.forced:
                data = busy_record(self.device, self.owner, self.priority, self.generation, last)
                self._record_size = write_record(record_fd, data, self._record_size)
        finally:
            unlock(state_fd)
        self._since = time.monotonic()

    def _give_gpu(self, *, handoff: bool) -> None:
        """Record the release, flush, unlock gpu (priority stays as it is)."""
        held = time.monotonic() - self._since
        state_fd, record_fd = self._state(check=False)
        generation = self.generation or 0
        lock(state_fd, EX)
        try:
            last = release_entry(self.owner, held, generation)
            write_last_release(state_fd, last)
            write_record(record_fd, free_record(self.device, generation, last), self._record_size)
        finally:
            unlock(state_fd)
        if self.flush == "always" or (self.flush == "on_handoff" and (handoff or self._waited())):
            cuda_flush(self.device)
        self._has_gpu = False
        if self._gpu_fd is not None:
            unlock(self._gpu_fd)

    def _waited(self) -> bool:
        return any(e.get("state") == "waiting" for e in _waiters.live(self._files.waiters))

    def _forced_grant_end(self) -> None:
        _waiters.remove(self._forced_entry)
        self._forced_entry = None
        if self.flush != "never":
            cuda_flush(self.device)

    def _checkin(self) -> None:
        """Hand the (unlocked) descriptors back to the process pool."""
        if self._fd_pid != os.getpid():
            return
        files = self._files
        for name, path in (
            ("_gpu_fd", files.gpu_lock),
            ("_prio_fd", files.priority_lock),
            ("_state_fd", files.state_lock),
            ("_record_fd", files.record),
        ):
            checkin(path, getattr(self, name))
            setattr(self, name, None)

    def _abandon(self) -> None:
        """Drop every lock and descriptor this handle has (no record update)."""
        self._held = False
        self._has_gpu = self._has_prio = False
        _waiters.remove(self._forced_entry)
        self._forced_entry = None
        for name in ("_gpu_fd", "_prio_fd", "_state_fd", "_record_fd"):
            close(getattr(self, name))
            setattr(self, name, None)


def _size_if_same(fd: int, path: Path) -> int | None:
    """The file's size when ``fd`` is still the file at ``path``, else None."""
    try:
        on_disk, open_one = path.stat(), os.fstat(fd)
    except OSError:
        return None
    if (on_disk.st_ino, on_disk.st_dev) != (open_one.st_ino, open_one.st_dev):
        return None
    return open_one.st_size


def _close_all(attributes: dict[str, object]) -> None:
    if attributes.get("_fd_pid") != os.getpid():
        return
    for name in ("_gpu_fd", "_prio_fd", "_state_fd", "_record_fd"):
        fd = attributes.get(name)
        if isinstance(fd, int):
            close(fd)


def lease(
    owner: str,
    *,
    priority: str = "low",
    path: str | os.PathLike[str] | None = None,
    device: int | None = None,
    max_wait: float | None = None,
    flush: str = "always",
    calm_pause: float = 0.0,
    timeout: float | None = None,
) -> Lease:
    """A handle on the GPU lease of ``device`` (default 0) for ``owner``.

    Use it as a context manager or call ``acquire()`` / ``release()``.
    ``priority="high"`` callers are granted before any low-priority caller and
    make low-priority holders yield at their next ``checkpoint()``. With
    ``max_wait`` (high only), the caller goes ahead without the lease after that
    many seconds and the handle's ``forced`` is True. ``timeout`` bounds the
    wait (:class:`LeaseTimeout`). ``flush`` picks when CUDA is flushed on
    release; ``calm_pause`` sleeps after release (default 0).

    Guarantees: while every GPU user takes the lease, at most one non-forced
    holder per device at a time, on one host (one kernel); a dead holder's
    lease is free at once. Not guaranteed: fairness among equal priorities,
    and anything over network filesystems.
    """
    return Lease(
        owner,
        priority=priority,
        path=path,
        device=device,
        max_wait=max_wait,
        flush=flush,
        calm_pause=calm_pause,
        timeout=timeout,
    )
