"""A job's storage limit: what its folders hold on disk, measured while it runs.

The engine's own quota (``storage_opt``) covers only the container's writable layer, and
only on overlay over XFS with project quotas; a job writes to bind-mounted folders
(``/work``, ``/output``) that no engine option bounds. So the service measures them itself,
like ``du``: allocated blocks (a sparse file counts what it really takes), each inode once
(hard links do not multiply), symlinks not followed. A tree that takes long to walk is
walked less often, so the watch never costs more than a small share of a core.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

#: Seconds between two measures of a running job's folders (at least).
CHECK_SECONDS = 2.0
#: A walk that took ``t`` seconds is repeated no sooner than ``WALK_SHARE_DIVISOR * t`` later.
WALK_SHARE_DIVISOR = 20


def disk_usage(folders: Iterable[Path]) -> int:
    """Bytes the files under ``folders`` take on disk; vanished or unreadable entries skipped."""
    total = 0
    seen: set[tuple[int, int]] = set()
    stack = [str(folder) for folder in folders]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                            continue
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue  # removed meanwhile
                    if info.st_nlink > 1:
                        if (info.st_dev, info.st_ino) in seen:
                            continue
                        seen.add((info.st_dev, info.st_ino))
                    total += info.st_blocks * 512
        except OSError:
            continue  # a folder removed meanwhile, or one the job made unreadable
    return total


class StorageWatch:
    """Measures a running job's folders now and then against ``limit_bytes``; cheap to poll."""

    def __init__(
        self, limit_bytes: int, folders: Iterable[Path], *, every: float = CHECK_SECONDS
    ) -> None:
        if limit_bytes <= 0:
            raise ValueError(f"limit_bytes must be above 0, got {limit_bytes}")
        self.limit_bytes = limit_bytes
        self.folders = list(folders)
        self.every = every
        #: What the last measure found (bytes), None before the first.
        self.used_bytes: int | None = None
        self._next = 0.0

    def poll(self) -> int | None:
        """The bytes used, when a measure was due now; None between measures."""
        now = time.monotonic()
        if now < self._next:
            return None
        self.used_bytes = disk_usage(self.folders)
        took = time.monotonic() - now
        self._next = now + max(self.every, WALK_SHARE_DIVISOR * took)
        return self.used_bytes

    @property
    def over(self) -> bool:
        """Whether the last measure found the folders past the limit."""
        return self.used_bytes is not None and self.used_bytes > self.limit_bytes
