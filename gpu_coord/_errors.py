"""Typed errors of gpu_coord; each subclasses the nearest builtin."""

from __future__ import annotations

import errno
from pathlib import Path


class LeaseError(RuntimeError):
    """Base class of every error gpu_coord raises on purpose."""


class LeaseTimeout(LeaseError, TimeoutError):
    """The lease was not granted within ``timeout`` seconds."""


class LeaseCancelled(LeaseError):
    """The caller's ``cancel`` event was set before the lease was granted."""


class LeasePathError(PermissionError, LeaseError):
    """The lease folder or one of its files cannot be created or written.

    ``filename`` names the path at fault; ``str()`` says what was tried.
    """

    def __init__(self, path: str | Path, action: str, cause: OSError | None = None) -> None:
        code = cause.errno if cause is not None and cause.errno else errno.EACCES
        reason = cause.strerror if cause is not None and cause.strerror else "permission denied"
        super().__init__(code, f"gpu_coord: cannot {action} {str(path)!r}: {reason}", str(path))

    def __str__(self) -> str:
        return str(self.strerror)
