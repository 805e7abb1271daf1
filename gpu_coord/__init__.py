"""gpu_coord: one GPU, many processes, one lease.

A kernel-lock lease with priority, step-level yield and crash safety::

    from gpu_coord import lease

    with lease("benchmark", priority="low") as held:
        for step in range(steps):
            held.checkpoint()      # hands the GPU to waiting high-priority work, then resumes

Work that cannot call ``checkpoint()`` runs in a :class:`PreemptibleHold` (or
``python -m gpu_coord run``), frozen while high-priority work runs. Processes
that keep memory on a device register as :func:`resident`; :func:`memory_budget`
says what a newcomer may take. The lease keeps a history: :func:`history`,
:func:`usage`.

The record lives at ``path``, else ``$GPU_COORD_PATH``, else
``/tmp/gpu-coord/status.json`` (host-wide: every process on the host meets
there, whatever its working directory or user). See ``docs/gpu_coord.md``.
"""

from __future__ import annotations

from ._budget import MemoryBudget, memory_budget
from ._errors import LeaseCancelled, LeaseError, LeasePathError, LeaseTimeout
from ._history import LeaseEvent, history
from ._lease import Lease, lease
from ._nvml import GpuSnapshot, gpu_snapshot
from ._paths import DEFAULT_PATH, ENV_VAR, devices, record_path
from ._preempt import PreemptibleHold
from ._resident import Resident, ResidentInfo, resident
from ._size import parse_size
from ._status import read_status
from ._time import parse_utc, utc_now
from ._usage import OwnerUsage, Usage, usage

__all__ = [
    "DEFAULT_PATH",
    "ENV_VAR",
    "GpuSnapshot",
    "Lease",
    "LeaseCancelled",
    "LeaseError",
    "LeaseEvent",
    "LeasePathError",
    "LeaseTimeout",
    "MemoryBudget",
    "OwnerUsage",
    "PreemptibleHold",
    "Resident",
    "ResidentInfo",
    "Usage",
    "devices",
    "gpu_snapshot",
    "history",
    "lease",
    "memory_budget",
    "parse_size",
    "parse_utc",
    "read_status",
    "record_path",
    "resident",
    "usage",
    "utc_now",
]
