"""A preemptible hold: work that cannot call ``checkpoint()`` still yields to high priority.

The hold takes the lease; a watcher thread probes, every few milliseconds, for a
high-priority caller (one non-blocking flock). When one asks it calls
``freeze()`` (stop the work: SIGSTOP a process group, pause a container), waits
for the GPU work already queued to drain (NVML utilisation at zero where NVML
reads the card, else ``drain_seconds``), hands the lease over, sleeps in the
kernel until the high-priority work is done, takes the lease back and calls
``thaw()``. Both are logged in the lease's history; while frozen the hold is
listed as a waiter in state ``"frozen"``.

The work is never left frozen by the hold: leaving the ``with`` block thaws it
first. (A process that dies while frozen cannot thaw anything: ``python -m
gpu_coord run`` makes its child die with it.)
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from types import TracebackType

from ._errors import LeaseCancelled, LeaseError
from ._lease import Lease
from ._ledger import Ledger
from ._nvml import gpu_snapshot
from ._resident import Resident
from ._size import parse_size
from ._validate import PRIORITIES, check_choice, check_seconds

#: Default drain without NVML: queued kernels of a frozen job get this long to finish.
DRAIN_SECONDS = 0.02
#: With NVML the drain ends when utilisation reads zero, at most this long.
NVML_DRAIN_CAP = 0.5
#: How often the watcher probes for a high-priority caller.
POLL_SECONDS = 0.005


class PreemptibleHold:
    """Hold ``owner``'s lease; freeze the work whenever high-priority work asks.

    ``freeze`` and ``thaw`` are called from the watcher thread (or, for a last
    thaw, from the thread leaving the ``with`` block), never at the same time.
    A hold with ``priority="high"`` is never preempted. ``timeout`` bounds the
    first wait, ``max_wait`` (high only) is the lease's. Setting ``cancel`` ends
    a wait at once: the first one raises :class:`LeaseCancelled` from the
    ``with``; a re-take after a handoff ends the hold (the work stays frozen
    until the ``with`` block is left: stop the work, then leave). ``memory_bytes``
    registers the owner as a resident of the device for the hold's life, so
    memory budgets count what the frozen work keeps. ``freezes``,
    ``frozen_seconds`` and ``frozen`` tell what happened.
    """

    def __init__(
        self,
        owner: str,
        *,
        freeze: Callable[[], None],
        thaw: Callable[[], None],
        priority: str = "low",
        device: int | None = None,
        path: str | os.PathLike[str] | None = None,
        drain_seconds: float = DRAIN_SECONDS,
        timeout: float | None = None,
        memory_bytes: int | str | None = None,
        max_wait: float | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        if not callable(freeze) or not callable(thaw):
            raise ValueError("freeze, thaw: must be callables taking no arguments")
        check_choice("priority", priority, PRIORITIES)
        self.drain_seconds = check_seconds("drain_seconds", drain_seconds) or 0.0
        memory = None if memory_bytes is None else parse_size(memory_bytes, name="memory_bytes")
        self._lease = Lease(
            owner,
            priority=priority,
            path=path,
            device=device,
            timeout=timeout,
            max_wait=max_wait,
            cancel=cancel,
        )
        self.owner = self._lease.owner
        self.priority = priority
        self.device = self._lease.device
        self._freeze, self._thaw = freeze, thaw
        self._resident = (
            None
            if memory is None
            else Resident(owner, device=device, path=path, resident_bytes=memory)
        )
        self._notes = Ledger(self._lease._files)
        self._mutex = threading.RLock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._error: BaseException | None = None
        self._frozen_at = 0.0
        self.freezes = 0
        self.frozen_seconds = 0.0
        self.frozen = False

    @property
    def lease(self) -> Lease:
        """The lease handle (its generation, wait_seconds, yields)."""
        return self._lease

    def __enter__(self) -> PreemptibleHold:
        if self._resident is not None:
            self._resident.__enter__()
        try:
            self._lease.acquire()
        except BaseException:
            if self._resident is not None:
                self._resident.__exit__(None, None, None)
            raise
        self._stop.clear()
        if self.priority == "low":
            self._watcher = threading.Thread(
                target=self._watch, name=f"gpu_coord-preempt-{self.owner}", daemon=True
            )
            self._watcher.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        try:
            with self._mutex:
                if self.frozen:
                    self._thaw_now()  # never left frozen, even mid-handoff
            if self._watcher is not None:
                # Mid-handoff, this waits for the high-priority work and the re-grant.
                self._watcher.join()
                self._watcher = None
        finally:
            self._lease.release()
            self._notes.close()
            if self._resident is not None:
                self._resident.__exit__(None, None, None)
        # A re-take cut short by ``cancel`` is what the caller asked for, not a failure.
        if self._error is not None and exc is None and not isinstance(self._error, LeaseCancelled):
            raise LeaseError(f"gpu_coord: preemptible hold of {self.owner!r} failed") from (
                self._error
            )

    # ----------------------------------------------------------------- watcher

    def _watch(self) -> None:
        lease = self._lease
        try:
            while not self._stop.wait(POLL_SECONDS):
                if not lease.wanted():
                    continue
                with self._mutex:
                    if self._stop.is_set():
                        return
                    self._freeze()
                    self.frozen = True
                    self.freezes += 1
                    self._frozen_at = time.monotonic()
                    self._note("freeze")
                self._drain()
                lease.waiter_state = "frozen"
                try:
                    lease.checkpoint()  # hands over, sleeps until high work is done, re-takes
                finally:
                    lease.waiter_state = "waiting"
                with self._mutex:
                    if self.frozen:
                        self._thaw_now()
        except BaseException as exc:  # reported by __exit__; the hold stops preempting
            self._error = exc

    def _drain(self) -> None:
        snapshot = gpu_snapshot(self.device)
        if snapshot is None or snapshot.utilization_percent is None:
            self._stop.wait(self.drain_seconds)
            return
        give_up = time.monotonic() + max(self.drain_seconds, NVML_DRAIN_CAP)
        while time.monotonic() < give_up and not self._stop.is_set():
            snapshot = gpu_snapshot(self.device)
            if snapshot is None or not snapshot.utilization_percent:
                return
            time.sleep(POLL_SECONDS)

    def _thaw_now(self) -> None:
        self.frozen = False
        frozen = time.monotonic() - self._frozen_at
        self.frozen_seconds += frozen
        try:
            self._thaw()
        finally:
            self._note("thaw", f'"frozen_seconds": {frozen:.6f}')

    def _note(self, event: str, extra: str = "") -> None:
        if self._lease._files.history:
            generation = self._lease.generation or 0
            self._notes.note(event, self.owner, self.priority, generation, extra)

    def __repr__(self) -> str:
        state = "frozen" if self.frozen else "held" if self._lease.held else "free"
        return f"PreemptibleHold(owner={self.owner!r}, freezes={self.freezes}, {state})"
