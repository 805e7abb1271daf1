"""Baseline leases for comparisons: the original scheme and a plain ``filelock.FileLock``.

Both have the shape of :class:`gpu_coord.Lease` (context manager, ``acquire`` /
``release`` / ``checkpoint``, ``owner``, ``priority``, ``generation``, ``forced``,
``wait_seconds``, ``yields``, ``held``) so benchmarks can swap schemes, but
``checkpoint()`` never yields and ``priority`` is recorded, not honoured:
neither baseline has priority. ``timeout`` raises :class:`gpu_coord.LeaseTimeout`.
Not part of the public API.

* :class:`OriginalLease`: the system's original sketch. A JSON lease file per
  image, created with ``O_EXCL``; a waiter polls it with ``sleep(poll_interval)``
  and breaks it when the holder's pid is dead on this host (which a PID
  namespace hides: across containers a dead holder is never detected); release
  deletes it and sleeps ``calm_pause`` (0.5 s).
* :class:`FileLockLease`: ``filelock.FileLock`` with its defaults (flock, a
  50 ms poll while waiting).
* :class:`Uncoordinated`: no lease at all; every caller runs at once (the
  device time-slices them).

:class:`Held` is the shape all of them and :class:`gpu_coord.Lease` share, as
far as the benchmarks read it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from types import TracebackType
from typing import Protocol

import filelock

from gpu_coord import LeaseTimeout, record_path, utc_now

# The baselines check their arguments exactly as the lease does, so a comparison
# never differs in what it accepts (perf is gpu_coord's own bench: it may reach in).
from gpu_coord._validate import PRIORITIES, check_choice, check_owner, check_seconds

ORIGINAL_POLL_INTERVAL = 0.1
ORIGINAL_CALM_PAUSE = 0.5


class Held(Protocol):
    """What a benchmark reads from a lease-shaped handle while and after it holds the GPU."""

    wait_seconds: float
    yields: int
    forced: bool

    def checkpoint(self) -> bool: ...

    def __enter__(self) -> Held: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class _Baseline:
    def __init__(self, owner: str, priority: str, timeout: float | None) -> None:
        self.owner = check_owner(owner)
        self.priority = check_choice("priority", priority, PRIORITIES)
        self.timeout = check_seconds("timeout", timeout, optional=True)
        self.generation: int | None = None
        self.forced = False
        self.wait_seconds = 0.0
        self.yields = 0
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    def checkpoint(self) -> bool:
        """Never yields: these schemes hand over only between whole leases."""
        return False

    def acquire(self) -> _Baseline:
        start = time.monotonic()
        deadline = None if self.timeout is None else start + self.timeout
        if not self._take(deadline):
            raise LeaseTimeout(
                f"{type(self).__name__} for {self.owner!r}: not granted within {self.timeout} s"
            )
        self.wait_seconds += time.monotonic() - start
        self._held = True
        return self

    def release(self) -> None:
        if self._held:
            self._held = False
            self._give()

    def _take(self, deadline: float | None) -> bool:
        raise NotImplementedError

    def _give(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> _Baseline:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class OriginalLease(_Baseline):
    """The original scheme: JSON lease file, polling waiters, fixed calm pause."""

    def __init__(
        self,
        owner: str,
        *,
        priority: str = "low",
        path: str | os.PathLike[str] | None = None,
        poll_interval: float = ORIGINAL_POLL_INTERVAL,
        calm_pause: float = ORIGINAL_CALM_PAUSE,
        timeout: float | None = None,
    ) -> None:
        super().__init__(owner, priority, timeout)
        self.file = record_path(path).with_name("original-lease.json")
        self.poll_interval = check_seconds("poll_interval", poll_interval) or 0.0
        self.calm_pause = check_seconds("calm_pause", calm_pause) or 0.0

    def _take(self, deadline: float | None) -> bool:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps(
            {
                "owner": self.owner,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": utc_now(),
                "priority": self.priority,
            }
        ).encode()
        while True:
            try:
                fd = os.open(self.file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                if self._holder_dead():
                    with contextlib.suppress(FileNotFoundError):
                        self.file.unlink()
                    continue
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                time.sleep(self.poll_interval)
                continue
            try:
                os.write(fd, body)
            finally:
                os.close(fd)
            return True

    def _holder_dead(self) -> bool:
        try:
            holder = json.loads(self.file.read_bytes())
            pid = int(holder["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return False  # being written, or gone: poll again
        if holder.get("host") != socket.gethostname():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def _give(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.file.unlink()
        if self.calm_pause:
            time.sleep(self.calm_pause)


class FileLockLease(_Baseline):
    """A plain ``filelock.FileLock`` beside the record, with its default settings."""

    def __init__(
        self,
        owner: str,
        *,
        priority: str = "low",
        path: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
    ) -> None:
        super().__init__(owner, priority, timeout)
        self.file = record_path(path).with_name("plain.filelock")
        self._lock = filelock.FileLock(self.file)

    def _take(self, deadline: float | None) -> bool:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        wait = -1.0 if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            self._lock.acquire(timeout=wait)
        except filelock.Timeout:
            return False
        return True

    def _give(self) -> None:
        self._lock.release()


class Uncoordinated(_Baseline):
    """No coordination: granted at once, every time, to every caller."""

    def __init__(self, owner: str, *, priority: str = "low") -> None:
        super().__init__(owner, priority, None)

    def _take(self, deadline: float | None) -> bool:
        return True

    def _give(self) -> None:
        return None


SCHEMES = ("gpu_coord", "original", "filelock", "none")


def make(
    scheme: str,
    owner: str,
    *,
    priority: str = "low",
    path: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
) -> OriginalLease | FileLockLease | Uncoordinated:
    """A baseline lease by name: ``"original"``, ``"filelock"`` or ``"none"``."""
    if scheme == "original":
        return OriginalLease(owner, priority=priority, path=path, timeout=timeout)
    if scheme == "filelock":
        return FileLockLease(owner, priority=priority, path=path, timeout=timeout)
    if scheme == "none":
        return Uncoordinated(owner, priority=priority)
    raise ValueError(f"scheme: must be 'original', 'filelock' or 'none', got {scheme!r}")
