"""The runner panel's data, read from what the benchmark runner writes in its results folder.

Coupling (jobs never imports benchmark): this module knows three things of the runner's
results folder, and nothing else:

- ``progress.json``: the runner's own progress (run id, model, set, images done of total,
  images/s, ETA), replaced whole after every image by ``benchmark.progress.Progress``;
- ``benchmark.sqlite3``: opened read-only (``mode=ro``), only ``runs.finished_at`` and the
  newest rows of ``generations`` (``id, run_id, model, prompt, status, image_path,
  created_at``) are read, for the thumbnails and whether the run finished;
- ``image_path`` in those rows is relative to the results folder.

If the runner changes those names, this module is the one place to follow.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

VIEW_NAME = "progress.json"
DB_NAME = "benchmark.sqlite3"
THUMBNAILS = 6
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})


def read_progress(results_dir: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The runner's progress view, or None and why there is none."""
    path = results_dir / VIEW_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, f"no run has reported progress in {results_dir} ({VIEW_NAME} is missing)"
    except OSError as exc:
        return None, f"{path}: cannot be read: {exc.strerror or exc}"
    try:
        view = json.loads(text)
    except ValueError as exc:
        return None, f"{path}: not JSON: {exc}"
    if not isinstance(view, dict):
        return None, f"{path}: expected a JSON object, got {type(view).__name__}"
    return view, None


def _connect(db: Path) -> sqlite3.Connection:
    # mode=ro: the dashboard never writes (nor creates) the runner's database.
    uri = f"file:{quote(str(db.resolve()))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=2.0)
    conn.row_factory = sqlite3.Row
    return conn


def read_run(results_dir: Path, run_id: str | None) -> dict[str, Any]:
    """Whether ``run_id`` finished, and its newest images; an ``error`` when unreadable."""
    db = results_dir / DB_NAME
    if not db.is_file():
        return {"finished_at": None, "images": [], "error": f"no results database at {db}"}
    try:
        conn = _connect(db)
        try:
            run = conn.execute("SELECT finished_at FROM runs WHERE id = ?", (run_id,)).fetchone()
            rows = conn.execute(
                "SELECT id, model, prompt, image_path, created_at FROM generations "
                "WHERE run_id = ? AND status = 'ok' AND image_path IS NOT NULL "
                "ORDER BY id DESC LIMIT ?",
                (run_id, THUMBNAILS),
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return {"finished_at": None, "images": [], "error": f"{db}: {exc}"}
    images = [
        {
            "model": row["model"],
            "prompt": row["prompt"],
            "created_at": row["created_at"],
            "url": f"/v1/dashboard/runner/images/{quote(row['image_path'])}",
        }
        for row in rows
    ]
    return {"finished_at": run["finished_at"] if run else None, "images": images, "error": None}


def runner_view(results_dir: Path) -> dict[str, Any]:
    """The panel: the current (or last) run's progress, whether it finished, its thumbnails."""
    progress, reason = read_progress(results_dir)
    if progress is None:
        return {"results_dir": str(results_dir), "progress": None, "reason": reason, "images": []}
    run = read_run(results_dir, progress.get("run_id"))
    return {
        "results_dir": str(results_dir),
        "progress": progress,
        "reason": None,
        "finished_at": run["finished_at"],
        "images": run["images"],
        "images_error": run["error"],
    }


def image_file(results_dir: Path, relative: str) -> Path | None:
    """The runner's image at ``relative`` inside the results folder; None for anything else."""
    if "\x00" in relative:
        return None
    root = results_dir.resolve()
    target = (root / relative).resolve()
    if not target.is_relative_to(root):
        return None
    if target.suffix.lower() not in IMAGE_SUFFIXES or not target.is_file():
        return None
    return target
