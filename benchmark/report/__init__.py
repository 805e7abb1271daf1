"""Benchmark reports: JSON, CSV, Markdown and a self-contained HTML page per run.

Contract with the runner::

    from benchmark.report import write_reports

    paths = write_reports(run, rows, results_dir=results, out_dir=results / "reports" / run_id)
    # {"json": .../report.json, "csv": ..., "md": ..., "html": ...}

and with ``python -m benchmark compare``::

    run, rows = combine_runs(run_a, rows_a, run_b, rows_b)   # shared prompts only
    write_reports(run, rows, results_dir=results, out_dir=..., rank_by="pickscore")

See ``write_reports`` for the keys of ``run`` and of each row, and
``docs/benchmark-scoring-and-reports.md`` for what each report holds.
"""

from __future__ import annotations

from benchmark.report._combine import combine_runs
from benchmark.report._stats import (
    Standing,
    WinRate,
    bootstrap_ci,
    leaderboard,
    pareto_front,
    win_rates,
)
from benchmark.report._summary import ModelSummary, category_means, summarize
from benchmark.report._write import write_reports

__all__ = [
    "ModelSummary",
    "Standing",
    "WinRate",
    "bootstrap_ci",
    "category_means",
    "combine_runs",
    "leaderboard",
    "pareto_front",
    "summarize",
    "win_rates",
    "write_reports",
]
