"""Benchmark reports: JSON, CSV, Markdown and a self-contained HTML page per run.

Contract with the runner::

    from benchmark.report import write_reports

    paths = write_reports(run, rows, results_dir=results, out_dir=results / "reports" / run_id)
    # {"json": .../report.json, "csv": ..., "md": ..., "html": ...}

See ``write_reports`` for the keys of ``run`` and of each row, and
``docs/benchmark-scoring-and-reports.md`` for what each report holds.
"""

from __future__ import annotations

from benchmark.report._rows import ROW_COLUMNS
from benchmark.report._summary import ModelSummary, category_means, summarize
from benchmark.report._write import write_reports

__all__ = ["ROW_COLUMNS", "ModelSummary", "category_means", "summarize", "write_reports"]
