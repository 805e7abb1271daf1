"""``python -m perf.lease``: lease latencies, gpu_coord against two baselines.

``_measures`` holds the measures (each over one scheme), ``_report`` runs them for every
scheme and sets out the tables, ``__main__`` is the command line and the section it appends
to ``docs/performance.md``.
"""

from __future__ import annotations

from perf.lease._plan import SCHEMES, Plan, plan
from perf.lease._report import run, table, targets

__all__ = ["SCHEMES", "Plan", "plan", "run", "table", "targets"]
