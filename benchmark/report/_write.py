"""write_reports: the four report files of one run, each replaced atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmark.records import Generation, RunRecord
from benchmark.report._comparison import compare
from benchmark.report._html import render_html
from benchmark.report._rows import model_order, normalise_rows, normalise_run, reused_count
from benchmark.report._summary import category_axes_of, category_means, summarize
from benchmark.report._tabular import render_csv, render_json, render_markdown
from gpu_coord import utc_now

__all__ = ["write_reports"]


def write_reports(
    run: RunRecord | Mapping[str, Any],
    rows: Sequence[Generation | Mapping[str, Any]],
    *,
    results_dir: Path,
    out_dir: Path,
    rank_by: str | None = None,
) -> dict[str, Path]:
    """Write ``report.json``, ``report.csv``, ``report.md`` and ``report.html`` into ``out_dir``.

    ``run`` has the keys ``id``, ``started_at``, ``finished_at`` (ISO 8601 UTC, or None
    while the run goes on), ``config``, ``prompt_sets`` and ``models`` (lists of names).
    Each row has ``prompt_set``, ``prompt_id``, ``prompt``, ``category``, ``model``,
    ``seed``, ``status`` ("ok" | "failed"), ``error``, ``image_path`` (relative to
    ``results_dir``), ``width``, ``height``, ``steps``, ``latency_s``, ``steps_per_s``,
    ``peak_mem_bytes``, ``lease_wait_s``, ``yields``, ``energy_j`` and one key per
    registered metric (``benchmark.metrics``: ``clip_score``, ``aesthetic_score``,
    ``pickscore``, ``hps_v21``, ...); any value but the first five and ``status`` may
    be None. ``rank_by`` names the metric the leaderboard ranks by (default: the
    first registered metric the rows have).
    The runner passes its typed records (a ``RunRecord`` and ``Generation`` rows),
    which flatten to exactly these keys; then the reports also say how many of the
    results earlier runs made (``run["reused_results"]``: results are kept per
    prompt text, so an edited prompt set remakes only the prompts that changed).

    The runner passes ``out_dir = results_dir/reports/<run id>``; the HTML links images
    relative to ``out_dir``, so copying the whole results folder keeps the page working.
    Each file is written to a temporary name and renamed, so a reader (or a run killed
    mid-write) never sees half a report. Calling it again overwrites the previous files.

    Returns ``{"json": path, "csv": path, "md": path, "html": path}``. Raises
    ``ValueError`` naming the field at fault for a malformed run or row (or an
    unknown ``rank_by``), and ``OSError``
    (naming the path) when ``out_dir`` cannot be written.
    """
    clean_run = normalise_run(run)
    clean_run.setdefault("reused_results", reused_count(str(clean_run["id"]), rows))
    clean_rows = normalise_rows(rows)
    models = model_order(clean_run, clean_rows)
    summaries = summarize(clean_rows, models)
    comparison = compare(clean_rows, models, rank_by)
    axes = category_axes_of(clean_rows)
    categories = {
        m.name: {axis: category_means(clean_rows, models, m.name, axis) for axis in axes}
        for m in comparison.shown
    }
    generated_at = utc_now()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    documents = {
        "json": render_json(clean_run, clean_rows, summaries, categories, generated_at, comparison),
        "csv": render_csv(clean_rows),
        "md": render_markdown(
            clean_run, clean_rows, summaries, categories, generated_at, comparison
        ),
        "html": render_html(
            clean_run,
            clean_rows,
            summaries,
            categories,
            generated_at,
            comparison=comparison,
            results_dir=Path(results_dir),
            out_dir=out,
        ),
    }
    paths: dict[str, Path] = {}
    for kind, text in documents.items():
        paths[kind] = _write_atomically(out / f"report.{kind}", text)
    return paths


def _write_atomically(path: Path, text: str) -> Path:
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        # newline="" keeps the CSV writer's line endings exactly as rendered.
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        temporary.chmod(0o644)  # mkstemp makes 0600; reports are for everyone to read
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path
