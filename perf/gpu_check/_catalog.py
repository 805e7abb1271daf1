"""Every step module of the check, in the order they run: add a new step's module here.

Each module registers its steps with :func:`perf.gpu_check.register_step` on import.
"""

from __future__ import annotations

from types import ModuleType

from perf.gpu_check import (
    _backend_memory,
    _contention,
    _flush,
    _host,
    _lease_memory,
    _runner,
    _scoring,
)

#: Run order: the host first, the long measurements next, the runner last.
MODULES: tuple[ModuleType, ...] = (
    _host,
    _contention,
    _flush,
    _backend_memory,
    _lease_memory,
    _scoring,
    _runner,
)
