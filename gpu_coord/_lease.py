"""The lease: exclusive GPU use with priority, step-level yield and crash safety.

The locking protocol (which kernel lock is taken when) is in :mod:`gpu_coord._take`;
this module is the public handle: acquire, release, checkpoint, and what each
writes (through :class:`~gpu_coord._ledger.Ledger`).
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from pathlib import Path
from types import TracebackType

from . import _waiters
from ._errors import LeaseError
from ._flush import POLICIES, cuda_flush
from ._ledger import Ledger
from ._locks import EX, checkin, close, try_lock, unlock
from ._paths import lease_files
from ._take import Taker
from ._validate import PRIORITIES, check_choice, check_owner, check_seconds


class Lease(Taker):
    """A handle on the GPU lease of ``device`` (default 0) for ``owner``.

    Use it as a context manager or call ``acquire()`` / ``release()``
    (``lease(...)`` is the same class). ``priority="high"`` callers are granted
    before any low-priority caller and make low-priority holders yield at their
    next ``checkpoint()``. With ``max_wait`` (high only), the caller goes ahead
    without the lease after that many seconds and the handle's ``forced`` is
    True. ``timeout`` bounds the wait (:class:`LeaseTimeout`); setting the
    ``cancel`` event from another thread ends it (:class:`LeaseCancelled`), also
    the re-take inside ``checkpoint()``. ``flush`` picks
    when CUDA is flushed on release; ``calm_pause`` sleeps after release
    (default 0).

    One thread uses a handle at a time. A handle can be acquired again after
    release. ``wait_seconds`` and ``yields`` add up over the handle's life.

    Guarantees: while every GPU user takes the lease, at most one non-forced
    holder per device at a time, on one host (one kernel); a dead holder's
    lease is free at once. Not guaranteed: fairness among equal priorities,
    and anything over network filesystems.
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
        cancel: threading.Event | None = None,
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
        if cancel is not None and not isinstance(cancel, threading.Event):
            raise ValueError(f"cancel: must be a threading.Event, not {type(cancel).__name__}")
        self.cancel = cancel
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
        self._ledger = Ledger(self._files)
        self._fd_pid = os.getpid()
        # Descriptors stay open between acquisitions (reopening cost more than the
        # whole grant); they close with the handle.
        self._finalizer = weakref.finalize(self, _close_all, self.__dict__)
        self._has_gpu = False
        self._has_prio = False
        self._waited_now = False
        self._forced_entry: _waiters.Entry | None = None
        self._since = 0.0
        #: The state a waiting entry of this handle shows ("frozen" while a hold is preempted).
        self.waiter_state = "waiting"
        #: What the last CUDA flush on release gave back (bytes; None when none ran).
        self.freed_bytes: int | None = None

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
        :class:`LeaseCancelled` when ``cancel`` is set first,
        :class:`LeasePathError` when the lease folder cannot be written, and
        :class:`LeaseError` when this handle already holds the lease.
        """
        if self._held:
            raise LeaseError(f"lease for {self.owner!r} is already held by this handle")
        self.forced = False
        self._waited_now = False
        start = time.monotonic()
        try:
            if self.priority == "high":
                self._take_high(start)
            else:
                deadline = None if self.timeout is None else start + self.timeout
                self._take_low(deadline)
            waited = time.monotonic() - start
            self.wait_seconds += waited
            self._pid = os.getpid()
            self._held = True
            self._grant(waited)
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
            waited = time.monotonic() - start
            self.wait_seconds += waited
            self.yields += 1
            self._waited_now = True
            self._grant(waited)
        except BaseException:
            self._abandon()
            raise
        return True

    def wanted(self) -> bool:
        """True when a high-priority caller waits, so a low holder would yield now.

        One non-blocking flock; False when not held or held with high priority.
        """
        prio = self._prio_fd
        if not self._has_gpu or self.priority == "high" or prio is None:
            return False
        if try_lock(prio, EX):
            unlock(prio)
            return False
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

    # ------------------------------------------------------------ bookkeeping

    def _grant(self, waited: float) -> None:
        self.generation = self._ledger.grant(
            self.owner,
            self.priority,
            forced=self.forced,
            wait_seconds=waited,
            waited=self._waited_now,
        )
        self._since = time.monotonic()

    def _give_gpu(self, *, handoff: bool) -> None:
        """Flush per policy, record the release, unlock gpu (priority stays as it is)."""
        held = time.monotonic() - self._since
        # Flush before the record says "free": the card is free once the flush is done,
        # and the record can then say what the flush gave back.
        self.freed_bytes = None
        if self.flush == "always" or (self.flush == "on_handoff" and (handoff or self._waited())):
            self.freed_bytes = cuda_flush(self.device)
        self._ledger.release(
            self.owner,
            self.priority,
            self.generation or 0,
            held_seconds=held,
            freed_bytes=self.freed_bytes,
            handoff=handoff,
        )
        self._has_gpu = False
        if self._gpu_fd is not None:
            unlock(self._gpu_fd)

    def note(self, event: str, extra: str = "") -> None:
        """Log ``event`` (freeze, thaw) for this handle in the lease's history."""
        self._ledger.note(event, self.owner, self.priority, self.generation or 0, extra)

    def _waited(self) -> bool:
        return any(e.get("state") == "waiting" for e in _waiters.live(self._files.waiters))

    def _forced_grant_end(self) -> None:
        held = time.monotonic() - self._since
        _waiters.remove(self._forced_entry)
        self._forced_entry = None
        self.freed_bytes = None if self.flush == "never" else cuda_flush(self.device)
        # Its own event, not a release: the lease's holder (if any) still holds, and a
        # reader that sums exclusive time must not end that holder's hold here.
        self._ledger.forced_release(
            self.owner,
            self.priority,
            self.generation or 0,
            held_seconds=held,
            freed_bytes=self.freed_bytes,
        )

    def _checkin(self) -> None:
        """Hand the (unlocked) descriptors back to the process pool."""
        if self._fd_pid != os.getpid():
            return
        files = self._files
        for name, path in (("_gpu_fd", files.gpu_lock), ("_prio_fd", files.priority_lock)):
            checkin(path, getattr(self, name))
            setattr(self, name, None)
        self._ledger.checkin()

    def _abandon(self) -> None:
        """Drop every lock and descriptor this handle has (no record update)."""
        self._held = False
        self._has_gpu = self._has_prio = False
        _waiters.remove(self._forced_entry)
        self._forced_entry = None
        for name in ("_gpu_fd", "_prio_fd"):
            close(getattr(self, name))
            setattr(self, name, None)
        self._ledger.close()


def _close_all(attributes: dict[str, object]) -> None:
    if attributes.get("_fd_pid") != os.getpid():
        return
    for name in ("_gpu_fd", "_prio_fd"):
        fd = attributes.get(name)
        if isinstance(fd, int):
            close(fd)
    ledger = attributes.get("_ledger")
    if isinstance(ledger, Ledger):
        ledger.close()


# One signature, one home: ``lease(...)`` is the class itself, so the two never drift apart.
lease = Lease
