"""gpu_coord: one GPU, many processes, one lease.

A kernel-lock lease with priority, step-level yield and crash safety::

    from gpu_coord import lease

    with lease("benchmark", priority="low") as held:
        for step in range(steps):
            held.checkpoint()      # hands the GPU to waiting high-priority work, then resumes

The record lives at ``path``, else ``$GPU_COORD_PATH``, else
``/tmp/gpu-coord/status.json`` (host-wide: every process on the host meets
there, whatever its working directory or user). See ``docs/gpu_coord.md``.
"""

from __future__ import annotations

from ._errors import LeaseError, LeasePathError, LeaseTimeout
from ._lease import Lease, lease
from ._nvml import GpuSnapshot, gpu_snapshot
from ._paths import DEFAULT_PATH, ENV_VAR, record_path
from ._status import devices, read_status

__all__ = [
    "DEFAULT_PATH",
    "ENV_VAR",
    "GpuSnapshot",
    "Lease",
    "LeaseError",
    "LeasePathError",
    "LeaseTimeout",
    "devices",
    "gpu_snapshot",
    "lease",
    "read_status",
    "record_path",
]
