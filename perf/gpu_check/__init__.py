"""``python -m perf.gpu_check``: the GPU host check, one command that verifies the system on CUDA.

Run on a new GPU host (or a lent H100/H200) it checks, step by step and each
under its own time budget: the host (packages, device, NVML, the lease), the
contention scenarios with the SD 1.5-shaped pipeline, step-only against block
checkpoints, the cost of each flush policy with the memory returned on release
and the NVML energy per image, the backend's warm-up and the headroom it
registers, the memory budget with a model resident and a CUDA process frozen
mid-stream for a high-priority caller, the scoring cost per scorer, and the
benchmark runner end to end. It writes
each step's section to ``docs/performance.md`` (or ``--output``) and prints a
pass/fail table. ``--dry-run`` runs every step on the CPU at small sizes;
``--wheels DIR`` first installs the pure-Python dependencies a bare host
lacks. A later issue adds its CUDA check with :func:`register_step` in a new
module listed in :mod:`perf.gpu_check._catalog`. See ``docs/gpu_check.md``.
"""

from __future__ import annotations

from perf.gpu_check._registry import (
    TOTAL_BUDGET_S,
    Step,
    StepContext,
    StepOutcome,
    StepSkipped,
    register_step,
    registered_steps,
)

__all__ = [
    "TOTAL_BUDGET_S",
    "Step",
    "StepContext",
    "StepOutcome",
    "StepSkipped",
    "register_step",
    "registered_steps",
]
