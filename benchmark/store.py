"""The results store: one SQLite database (WAL) beside the images.

Tables: ``runs`` (one row per run), ``prompt_sets`` (every prompt-set version
seen, by content hash), ``generations`` (one row per image attempt, unique per
prompt-set version, model fingerprint, prompt and seed) and ``scores`` (one row
per scored generation). Only the runner's main process writes; readers (the
``status`` and ``report`` commands, a notebook) may read at any time, which WAL
allows without blocking the writer.

Resume contract: a generation row is inserted, together with its scores, in one
transaction *after* its image file was moved into place, so a row always points
at a whole image; an image without a row is simply made again.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DB_NAME = "benchmark.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    config TEXT NOT NULL,
    config_json TEXT NOT NULL,
    prompt_sets TEXT NOT NULL,
    models TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS prompt_sets (
    hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    prompts INTEGER NOT NULL,
    first_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS generations (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id),
    prompt_set TEXT NOT NULL,
    set_hash TEXT NOT NULL,
    prompt_id TEXT NOT NULL,
    prompt TEXT NOT NULL,
    category TEXT,
    model TEXT NOT NULL,
    model_fingerprint TEXT NOT NULL,
    model_source TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    error TEXT,
    image_path TEXT,
    width INTEGER,
    height INTEGER,
    steps INTEGER,
    latency_s REAL,
    steps_per_s REAL,
    peak_mem_bytes INTEGER,
    lease_wait_s REAL,
    yields INTEGER,
    energy_j REAL,
    created_at TEXT NOT NULL,
    UNIQUE (set_hash, model, model_fingerprint, prompt_id, seed)
);
CREATE TABLE IF NOT EXISTS scores (
    generation_id INTEGER PRIMARY KEY REFERENCES generations(id) ON DELETE CASCADE,
    clip_score REAL,
    aesthetic_score REAL
);
"""

# The row a report gets: the keys of the benchmark.report contract, in its order.
REPORT_KEYS = (
    "prompt_set", "prompt_id", "prompt", "category", "model", "seed", "status", "error",
    "image_path", "width", "height", "steps", "latency_s", "steps_per_s", "peak_mem_bytes",
    "lease_wait_s", "yields", "energy_j", "clip_score", "aesthetic_score",
)  # fmt: skip

_MEASURES = (
    "width", "height", "steps", "latency_s", "steps_per_s", "peak_mem_bytes",
    "lease_wait_s", "yields", "energy_j",
)  # fmt: skip


def utc_now() -> str:
    """The current time as ISO 8601 UTC with a ``Z``, to the millisecond."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class ItemKey:
    """What makes a result unique: prompt-set version, model version, prompt, seed."""

    set_hash: str
    model: str
    model_fingerprint: str
    prompt_id: str
    seed: int


@dataclass(frozen=True)
class DoneItem:
    """What the store knows of one finished item."""

    status: str
    run_id: str
    image_path: str | None


class ResultsStore:
    """The SQLite database of one results folder. Not thread-safe: one per thread."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        # Autocommit mode: transactions are opened explicitly with BEGIN IMMEDIATE.
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        # executescript commits on its own; CREATE ... IF NOT EXISTS is idempotent.
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # runs -------------------------------------------------------------------------

    def start_run(
        self,
        *,
        config_name: str,
        config_json: dict[str, Any],
        prompt_sets: list[dict[str, Any]],
        models: list[dict[str, Any]],
    ) -> tuple[str, bool]:
        """Resume the latest unfinished run of ``config_name`` or start a new one.

        Returns ``(run_id, resumed)``. A resumed run takes the current prompt
        sets and models (the work that remains is worked out from the results,
        not from the run's old lists).
        """
        sets_json, models_json = json.dumps(prompt_sets), json.dumps(models)
        with self._transaction() as db:
            row = db.execute(
                "SELECT id, config, finished_at FROM runs ORDER BY started_at DESC, rowid DESC "
                "LIMIT 1"
            ).fetchone()
            if row is not None and row["finished_at"] is None and row["config"] == config_name:
                db.execute(
                    "UPDATE runs SET prompt_sets = ?, models = ?, config_json = ? WHERE id = ?",
                    (sets_json, models_json, json.dumps(config_json), row["id"]),
                )
                return str(row["id"]), True
            run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
            db.execute(
                "INSERT INTO runs (id, started_at, config, config_json, prompt_sets, models) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, utc_now(), config_name, json.dumps(config_json), sets_json, models_json),
            )
            return run_id, False

    def finish_run(self, run_id: str) -> None:
        """Mark the run finished now."""
        with self._transaction() as db:
            db.execute("UPDATE runs SET finished_at = ? WHERE id = ?", (utc_now(), run_id))

    def run(self, run_id: str | None = None) -> dict[str, Any] | None:
        """The run ``run_id`` (the latest when None) in the report contract's shape, or None."""
        if run_id is None:
            row = self._db.execute(
                "SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1"
            ).fetchone()
        else:
            row = self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        sets, models = json.loads(row["prompt_sets"]), json.loads(row["models"])
        return {
            "id": row["id"],
            "started_at": row["started_at"],
            "finished_at": row["finished_at"],
            "config": row["config"],
            "prompt_sets": [s["name"] for s in sets],
            "models": [m["name"] for m in models],
            "_prompt_sets": sets,
            "_models": models,
        }

    def runs(self) -> list[dict[str, Any]]:
        """Every run, newest first, with its counts of ok and failed images."""
        out = []
        for row in self._db.execute(
            "SELECT id FROM runs ORDER BY started_at DESC, rowid DESC"
        ).fetchall():
            run = self.run(row["id"])
            assert run is not None
            rows = self.report_rows(run)
            run["ok"] = sum(1 for r in rows if r["status"] == "ok")
            run["failed"] = sum(1 for r in rows if r["status"] == "failed")
            out.append(run)
        return out

    # prompt sets and generations -------------------------------------------------

    def remember_prompt_set(self, *, content_hash: str, name: str, path: str, prompts: int) -> None:
        """Record a prompt-set version (first sighting wins)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO prompt_sets (hash, name, path, prompts, first_seen) "
                "VALUES (?, ?, ?, ?, ?)",
                (content_hash, name, path, prompts, utc_now()),
            )

    def done_items(self, set_hash: str, model: str, fingerprint: str) -> dict[ItemKey, DoneItem]:
        """The recorded results for one prompt-set version and model version."""
        rows = self._db.execute(
            "SELECT prompt_id, seed, status, run_id, image_path FROM generations "
            "WHERE set_hash = ? AND model = ? AND model_fingerprint = ?",
            (set_hash, model, fingerprint),
        ).fetchall()
        return {
            ItemKey(set_hash, model, fingerprint, r["prompt_id"], r["seed"]): DoneItem(
                r["status"], r["run_id"], r["image_path"]
            )
            for r in rows
        }

    def record(
        self,
        *,
        run_id: str,
        key: ItemKey,
        prompt_set: str,
        prompt: str,
        category: str | None,
        model_source: str,
        status: str,
        error: str | None = None,
        image_path: str | None = None,
        measures: dict[str, Any] | None = None,
        scores: dict[str, float] | None = None,
    ) -> None:
        """Insert the result of one item (replacing an older one) and its scores, atomically."""
        measures = measures or {}
        values = [measures.get(k) for k in _MEASURES]
        with self._transaction() as db:
            db.execute(
                "DELETE FROM generations WHERE set_hash = ? AND model = ? AND "
                "model_fingerprint = ? AND prompt_id = ? AND seed = ?",
                (key.set_hash, key.model, key.model_fingerprint, key.prompt_id, key.seed),
            )
            cursor = db.execute(
                "INSERT INTO generations (run_id, prompt_set, set_hash, prompt_id, prompt, "
                "category, model, model_fingerprint, model_source, seed, status, error, "
                f"image_path, {', '.join(_MEASURES)}, created_at) "
                f"VALUES ({', '.join('?' * (14 + len(_MEASURES)))})",
                (
                    run_id,
                    prompt_set,
                    key.set_hash,
                    key.prompt_id,
                    prompt,
                    category,
                    key.model,
                    key.model_fingerprint,
                    model_source,
                    key.seed,
                    status,
                    error,
                    image_path,
                    *values,
                    utc_now(),
                ),
            )
            if scores is not None:
                db.execute(
                    "INSERT INTO scores (generation_id, clip_score, aesthetic_score) "
                    "VALUES (?, ?, ?)",
                    (cursor.lastrowid, scores.get("clip_score"), scores.get("aesthetic_score")),
                )

    def report_rows(self, run: dict[str, Any]) -> list[dict[str, Any]]:
        """The rows of a run for ``write_reports``: its prompt-set versions times its models."""
        rows: list[dict[str, Any]] = []
        for pset in run["_prompt_sets"]:
            for model in run["_models"]:
                rows.extend(self._rows(pset["hash"], model["name"], model["fingerprint"]))
        return rows

    def _rows(self, set_hash: str, model: str, fingerprint: str) -> Iterable[dict[str, Any]]:
        cursor = self._db.execute(
            "SELECT g.*, s.clip_score, s.aesthetic_score FROM generations g "
            "LEFT JOIN scores s ON s.generation_id = g.id "
            "WHERE g.set_hash = ? AND g.model = ? AND g.model_fingerprint = ? "
            "ORDER BY g.prompt_id, g.seed",
            (set_hash, model, fingerprint),
        )
        for row in cursor.fetchall():
            yield {k: row[k] for k in REPORT_KEYS}

    def counts(self) -> dict[str, int]:
        """Total generations by status."""
        return {
            str(r[0]): int(r[1])
            for r in self._db.execute("SELECT status, COUNT(*) FROM generations GROUP BY status")
        }
