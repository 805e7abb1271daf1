"""The contention benchmark: does sharing one device cost the backend and the runner anything?

``python -m benchmark.contention`` runs, in one sitting and one process tree, a
backend role (generation requests at a fixed inter-arrival time, each in a
high-priority lease) and a runner role (images back to back, each in a
low-priority lease that yields between denoising steps) as two real processes
sharing one lease record: each alone, then together under this project's
lease, the original scheme and no coordination. It prints a Markdown report and
appends it to ``docs/performance.md``. See ``docs/performance.md`` for results.
"""

from __future__ import annotations

from benchmark.contention._config import DEFAULT_SCHEMES, SHARED_SCHEMES, ContentionConfig
from benchmark.contention._orchestrate import ContentionReport, run_contention
from benchmark.contention._procs import RoleError
from benchmark.contention._report import append_report, format_report

__all__ = [
    "DEFAULT_SCHEMES",
    "SHARED_SCHEMES",
    "ContentionConfig",
    "ContentionReport",
    "RoleError",
    "append_report",
    "format_report",
    "run_contention",
]
