"""Every error the benchmark runner raises on purpose, under one base.

Each error keeps the builtin base it always had (a bad config is still a
``ValueError``, an unwritable folder still a ``PermissionError``), so callers
that caught the builtin keep working, and ``except BenchmarkError`` catches
them all. ``exit_code`` is the status ``python -m benchmark`` exits with when
the error ends a command (the table is in ``docs/benchmark.md``).
"""

from __future__ import annotations

import errno
from pathlib import Path

__all__ = [
    "DISK_FULL_ERRNOS",
    "EXIT_DISK_FULL",
    "EXIT_USAGE",
    "BenchmarkError",
    "ConfigError",
    "DataDirError",
    "DiskFullError",
    "PromptSetError",
    "ResultsDirError",
    "RunnerBusyError",
    "ScorerLoadError",
    "StoreError",
    "UnknownNameError",
    "WorkerLoadError",
    "is_disk_full",
]

EXIT_USAGE = 2
EXIT_DISK_FULL = 3
# errno values that mean "no space left": the run must stop, not fail the image.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class BenchmarkError(Exception):
    """Base of the runner's errors; the message names the file, key or path at fault."""

    exit_code = EXIT_USAGE


class ConfigError(BenchmarkError, ValueError):
    """The benchmark TOML is unusable; the message names the file and the key at fault."""


class PromptSetError(BenchmarkError, ValueError):
    """A prompt-set file cannot be used; the message names the file and the entry at fault."""

    def __init__(self, path: Path, reason: str, entry: str | None = None) -> None:
        where = f"{path}" if entry is None else f"{path}, {entry}"
        super().__init__(f"prompt set {where}: {reason}")
        self.path = path
        self.entry = entry
        self.reason = reason


class UnknownNameError(BenchmarkError, KeyError):
    """``--model`` or ``--set`` named something that is not there."""

    def __str__(self) -> str:
        # KeyError's str() is the repr of its argument; the message reads better bare.
        return str(self.args[0]) if self.args else ""


class DataDirError(BenchmarkError, FileNotFoundError):
    """The prompt-set folder does not exist (or is not a folder)."""


class ResultsDirError(BenchmarkError, PermissionError):
    """The results folder cannot be created or written; the message names the path."""


class RunnerBusyError(BenchmarkError, RuntimeError):
    """Another runner is working in the same results folder."""


class StoreError(BenchmarkError, RuntimeError):
    """The results database cannot be used as asked (e.g. read-only and too old)."""


class DiskFullError(BenchmarkError, OSError):
    """The results disk (database or image folder) is full: the run stopped, resumable."""

    exit_code = EXIT_DISK_FULL


class WorkerLoadError(BenchmarkError, RuntimeError):
    """The worker could not load its model; the message says why."""


class ScorerLoadError(BenchmarkError, ValueError):
    """A scorer model could not be loaded; the message names the model and the reason."""

    def __init__(self, model: str, reason: str) -> None:
        super().__init__(f"cannot load scorer model {model!r}: {reason}")
        self.model = model
        self.reason = reason


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or the user's quota) is full."""
    return isinstance(exc, DiskFullError) or (
        isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS
    )
