"""Kernel flock primitives: the truth of the lease.

flock locks belong to an open file description, so the kernel drops them the
instant the last descriptor closes, which is what makes a SIGKILLed holder
harmless. Blocking waits sleep in the kernel and wake as soon as the lock is
free: no polling. A timed wait runs the blocking call on a helper thread, because
flock has no timeout; an abandoned attempt unlocks and closes its descriptor when
it finally gets the lock.

Every descriptor opened here is recorded so that a forked child closes its
inherited copies: otherwise a child could keep a dead parent's lock alive.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ._errors import LeasePathError

EX = fcntl.LOCK_EX
SH = fcntl.LOCK_SH
#: How soon a cancellable wait sees its ``cancel`` event set.
CANCEL_POLL_SECONDS = 0.01

_OPEN: set[int] = set()
_OPEN_MUTEX = threading.Lock()
# Unlocked descriptors kept for the next handle on the same file: opening and
# closing four files cost more than a whole uncontended grant. Each descriptor
# is used by one handle at a time, so handles in one process still exclude each
# other (flock locks belong to the open file description).
_POOL: dict[Path, list[int]] = {}
_POOL_DEPTH = 8


def _close_inherited() -> None:
    # Runs in a forked child: the parent's lock descriptors must not keep its locks alive.
    for fd in list(_OPEN):
        with contextlib.suppress(OSError):
            os.close(fd)
    _OPEN.clear()
    _POOL.clear()


os.register_at_fork(after_in_child=_close_inherited)


def make_folder(folder: Path) -> None:
    """Create ``folder`` (world-writable, so every user on the host can take the lease)."""
    if folder.is_dir():
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(PermissionError):
            folder.chmod(0o777)
    except FileExistsError as exc:
        raise LeasePathError(folder, "create the lease folder (a file is in the way)", exc) from exc
    except OSError as exc:
        raise LeasePathError(folder, "create the lease folder", exc) from exc


def share(fd: int) -> None:
    """Make a file this process created readable and writable by every user."""
    with contextlib.suppress(OSError):
        info = os.fstat(fd)
        if info.st_uid == os.geteuid() and info.st_mode & 0o777 != 0o666:
            os.fchmod(fd, 0o666)


def open_lock(path: Path) -> int:
    """Open (creating if needed, mode 0666) a lock file for read and write."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except FileNotFoundError:
        make_folder(path.parent)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise LeasePathError(path, "open the lock file", exc) from exc
    except OSError as exc:
        raise LeasePathError(path, "open the lock file", exc) from exc
    share(fd)
    return track(fd)


def checkout(path: Path, opener: Callable[[Path], int]) -> int:
    """An unlocked descriptor of ``path`` from the pool, or a new one from ``opener``."""
    with _OPEN_MUTEX:
        free = _POOL.get(path)
        if free:
            return free.pop()
    return track(opener(path))


def checkin(path: Path, fd: int | None) -> None:
    """Return an UNLOCKED descriptor to the pool (or close it when the pool is full)."""
    if fd is None:
        return
    with _OPEN_MUTEX:
        if fd in _OPEN:
            free = _POOL.setdefault(path, [])
            if len(free) < _POOL_DEPTH:
                free.append(fd)
                return
    close(fd)


def track(fd: int) -> int:
    """Record a descriptor that holds a lock, so a forked child closes its copy."""
    with _OPEN_MUTEX:
        _OPEN.add(fd)
    return fd


def open_lock_readonly(path: Path) -> int | None:
    """Open an existing lock file only to probe it; None when it cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    with _OPEN_MUTEX:
        _OPEN.add(fd)
    return fd


def close(fd: int | None) -> None:
    """Close a descriptor from :func:`open_lock` (drops its lock); None is ignored."""
    if fd is None:
        return
    with _OPEN_MUTEX:
        _OPEN.discard(fd)
    with contextlib.suppress(OSError):
        os.close(fd)


def try_lock(fd: int, mode: int = EX) -> bool:
    """One non-blocking attempt; True when the lock is now held."""
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def lock(fd: int, mode: int = EX) -> None:
    """Block in the kernel until the lock is held."""
    fcntl.flock(fd, mode)


def unlock(fd: int) -> None:
    """Release a lock held through ``fd``."""
    fcntl.flock(fd, fcntl.LOCK_UN)


class _Attempt:
    """A blocking flock on a helper thread that its caller may abandon."""

    def __init__(self, fd: int, mode: int) -> None:
        self.fd = fd
        self.mode = mode
        self.mutex = threading.Lock()
        self.done = threading.Event()
        self.granted = False
        self.abandoned = False
        self.error: OSError | None = None

    def run(self) -> None:
        try:
            fcntl.flock(self.fd, self.mode)
        except OSError as exc:
            self.error = exc
        with self.mutex:
            if self.abandoned:
                if self.error is None:
                    with contextlib.suppress(OSError):
                        fcntl.flock(self.fd, fcntl.LOCK_UN)
                close(self.fd)
            else:
                self.granted = self.error is None
        self.done.set()


def wait_lock(
    path: Path, mode: int, timeout: float | None, cancel: threading.Event | None = None
) -> int | None:
    """Take ``mode`` on a fresh descriptor of ``path``, waiting at most ``timeout`` seconds.

    Returns the descriptor holding the lock, or None when the time ran out or
    ``cancel`` was set. ``timeout=None`` without ``cancel`` waits forever in the
    calling thread.
    """
    fd = open_lock(path)
    if timeout is None and cancel is None:
        try:
            lock(fd, mode)
        except BaseException:
            close(fd)
            raise
        return fd
    if try_lock(fd, mode):
        return fd
    if timeout is not None and timeout <= 0:
        close(fd)
        return None
    attempt = _Attempt(fd, mode)
    threading.Thread(target=attempt.run, name="gpu_coord-wait", daemon=True).start()
    _wait_attempt(attempt, timeout, cancel)
    with attempt.mutex:
        if attempt.granted:
            return fd
        if attempt.error is not None:
            close(fd)
            raise attempt.error
        attempt.abandoned = True
    return None


def _wait_attempt(attempt: _Attempt, timeout: float | None, cancel: threading.Event | None) -> None:
    """Wait for ``attempt`` until ``timeout`` passes or ``cancel`` is set."""
    if cancel is None:
        attempt.done.wait(timeout)
        return
    # A thread cannot sleep on two events: look at ``cancel`` between short waits
    # (only a cancellable wait pays this; the grant itself still wakes it at once).
    deadline = None if timeout is None else time.monotonic() + timeout
    while not cancel.is_set():
        left = CANCEL_POLL_SECONDS if deadline is None else deadline - time.monotonic()
        if left <= 0 or attempt.done.wait(min(left, CANCEL_POLL_SECONDS)):
            return
