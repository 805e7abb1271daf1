"""The contention benchmark: does sharing one device cost the backend and the runner anything?

``python -m perf.contention`` runs, in one sitting and one process tree, a
backend role (generation requests at a fixed inter-arrival time, each in a
high-priority lease) and a runner role (images back to back, each in a
low-priority lease that yields between denoising steps) as two real processes
sharing one lease record: each alone, then together under this project's
lease, the original scheme and no coordination (and, on request, the lease
with block checkpoints: ``--schemes lease,lease-blocks``). It prints a Markdown report and
appends it to ``docs/performance.md``. See ``docs/performance.md`` for results.
"""

from __future__ import annotations

from perf.contention._config import DEFAULT_SCHEMES, SHARED_SCHEMES, ContentionConfig
from perf.contention._orchestrate import ContentionReport, run_contention
from perf.contention._procs import RoleError
from perf.contention._report import format_report
from perf.contention._stats import BlockFigures

__all__ = [
    "DEFAULT_SCHEMES",
    "SHARED_SCHEMES",
    "BlockFigures",
    "ContentionConfig",
    "ContentionReport",
    "RoleError",
    "format_report",
    "run_contention",
]
