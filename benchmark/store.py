"""The results store: one SQLite database (WAL) beside the images.

Tables (``benchmark.schema``): ``runs``, ``prompt_sets`` (every prompt-set
version seen, by content hash) with their members in ``set_prompts``,
``generations`` (one row per image attempt, unique per prompt set, prompt
content, model version and seed) and ``scores``. Only the runner's main process
writes; readers (``status``, ``report``, a notebook) may read at any time, which
WAL allows without blocking the writer.

Resume contract: a generation row is inserted, together with its scores, in one
transaction *after* its image file was moved into place, so a row always points
at a whole image; an image without a row is simply made again.

A full disk raises :class:`~benchmark.errors.DiskFullError` from any write (the
transaction is rolled back, nothing half-written stays).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmark.errors import StoreError
from benchmark.records import (
    Generation,
    ItemKey,
    RunRecord,
)
from benchmark.schema import (
    GENERATION_COLUMNS,
    VERSION,
    generation_from_row,
    row_values,
    upgrade,
)
from benchmark.sqlite_open import connect_read_only, disk_guard
from gpu_coord import utc_now

__all__ = ["DB_NAME", "ResultsStore"]

DB_NAME = "benchmark.sqlite3"
log = logging.getLogger(__name__)


class ResultsStore:
    """The SQLite database of one results folder. Not thread-safe: one per thread.

    ``ResultsStore(path)`` opens it for the runner (creating or upgrading it);
    :meth:`for_reading` opens it for ``status`` and ``report``, read-only when
    the folder cannot be written.
    """

    def __init__(self, path: Path, *, _read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = _read_only
        with disk_guard(self.path):
            if _read_only:
                self._db = connect_read_only(self.path)
            else:
                # Autocommit mode: transactions are opened explicitly with BEGIN IMMEDIATE.
                self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            self._db.row_factory = sqlite3.Row
            if _read_only:
                return
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            with self._transaction() as db:
                upgrade(db)

    @classmethod
    def for_reading(cls, path: Path) -> ResultsStore:
        """Open an existing database to read; read-only when its folder or file is not writable."""
        path = Path(path)
        if os.access(path.parent, os.W_OK) and os.access(path, os.W_OK):
            return cls(path)
        log.info("%s is not writable: opening the results read-only", path)
        store = cls(path, _read_only=True)
        version = int(store._db.execute("PRAGMA user_version").fetchone()[0])
        if version != VERSION:
            store.close()
            raise StoreError(
                f"{path} was written by an older runner (layout {version}, this one reads "
                f"{VERSION}) and its folder is read-only, so it cannot be upgraded: run "
                "status or report once where the folder is writable"
            )
        return store

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        if self.read_only:
            raise StoreError(f"{self.path} is open read-only")
        with disk_guard(self.path):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.OperationalError:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

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

    def run(self, run_id: str | None = None) -> RunRecord | None:
        """The run ``run_id`` (the latest when None), or None when there is no such run."""
        if run_id is None:
            row = self._db.execute(
                "SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1"
            ).fetchone()
        else:
            row = self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        return RunRecord(
            id=row["id"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            config=row["config"],
            prompt_sets=tuple(json.loads(row["prompt_sets"])),
            models=tuple(json.loads(row["models"])),
        )

    def runs(self) -> list[RunRecord]:
        """Every run, newest first."""
        rows = self._db.execute("SELECT id FROM runs ORDER BY started_at DESC, rowid DESC")
        return [run for row in rows.fetchall() if (run := self.run(row["id"])) is not None]

    # working memory (benchmark.placement) ------------------------------------------

    def working_memory(self, model_key: str) -> int | None:
        """The working memory measured for ``model_key`` (None: never measured)."""
        try:
            row = self._db.execute(
                "SELECT working_bytes FROM working_memory WHERE model_key = ?", (model_key,)
            ).fetchone()
        except sqlite3.OperationalError:  # a read-only database from before the table
            return None
        return None if row is None else int(row[0])

    def remember_working_memory(self, model_key: str, working_bytes: int) -> None:
        """Keep the working memory measured for ``model_key``, for the next run's placement."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO working_memory (model_key, working_bytes, measured_at) "
                "VALUES (?, ?, ?)",
                (model_key, int(working_bytes), utc_now()),
            )

    # prompt sets and generations -------------------------------------------------

    def remember_prompt_set(
        self, *, content_hash: str, name: str, path: str, members: Sequence[tuple[str, str, Any]]
    ) -> None:
        """Record a prompt-set version and its ``(prompt id, content hash, category)`` members."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO prompt_sets (hash, name, path, prompts, first_seen) "
                "VALUES (?, ?, ?, ?, ?)",
                (content_hash, name, path, len(members), utc_now()),
            )
            db.executemany(
                "INSERT OR IGNORE INTO set_prompts VALUES (?, ?, ?, ?, ?)",
                [(content_hash, i, pid, h, cat) for i, (pid, h, cat) in enumerate(members)],
            )

    def done_items(
        self, prompt_set: str, model: str, fingerprint: str
    ) -> dict[ItemKey, Generation]:
        """The recorded results of one prompt set (every version) and model version."""
        rows = self._select(
            "WHERE g.prompt_set = ? AND g.model = ? AND g.model_fingerprint = ?",
            (prompt_set, model, fingerprint),
        )
        return {generation.key: generation for generation in rows}

    def record(self, generation: Generation) -> None:
        """Insert one result (replacing an older one of the same key) and its scores, atomically."""
        key = generation.key
        with self._transaction() as db:
            db.execute(
                "DELETE FROM generations WHERE prompt_set = ? AND prompt_hash = ? AND model = ? "
                "AND model_fingerprint = ? AND seed = ?",
                (key.prompt_set, key.prompt_hash, key.model, key.model_fingerprint, key.seed),
            )
            cursor = db.execute(
                f"INSERT INTO generations ({', '.join(GENERATION_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(GENERATION_COLUMNS))})",
                row_values(generation, created_at=utc_now()),
            )
            if generation.scores is not None:
                db.executemany(
                    "INSERT INTO scores (generation_id, metric, value) VALUES (?, ?, ?)",
                    [(cursor.lastrowid, metric, float(value))
                     for metric, value in generation.scores.items() if value is not None],
                )  # fmt: skip

    def generations(self, run: RunRecord) -> list[Generation]:
        """The results a run covers: its prompt-set versions' prompts times its models.

        Prompt ids and categories are the set version's own, so a result made
        under an earlier version of the set is shown as the current set calls it.
        """
        out: list[Generation] = []
        for pset in run.prompt_sets:
            members = {
                str(m["prompt_hash"]): (str(m["prompt_id"]), m["category"])
                for m in self._db.execute(
                    "SELECT prompt_id, prompt_hash, category FROM set_prompts WHERE set_hash = ?",
                    (pset["hash"],),
                )
            }
            for model in run.models:
                found = []
                for g in self._select(
                    "WHERE g.prompt_set = ? AND g.model = ? AND g.model_fingerprint = ?",
                    (pset["name"], model["name"], model["fingerprint"]),
                ):
                    if g.key.prompt_hash in members:
                        pid, category = members[g.key.prompt_hash]
                        found.append(_renamed(g, pid, category))
                out.extend(sorted(found, key=lambda g: (g.prompt_id, g.key.seed)))
        return out

    def counts(self, run: RunRecord | None = None) -> dict[str, int]:
        """Generations by status: of ``run`` (what its report covers), or of the whole store."""
        if run is not None:
            tally: dict[str, int] = {}
            for generation in self.generations(run):
                tally[generation.status] = tally.get(generation.status, 0) + 1
            return tally
        return {
            str(r[0]): int(r[1])
            for r in self._db.execute("SELECT status, COUNT(*) FROM generations GROUP BY status")
        }

    def _select(self, where: str, params: tuple[Any, ...]) -> list[Generation]:
        rows = self._db.execute(f"SELECT g.* FROM generations g {where}", params).fetchall()
        # A generation with any score row was scored (its scorers may have given fewer).
        scores: dict[int, dict[str, float]] = {}
        for score in self._db.execute(
            "SELECT s.generation_id, s.metric, s.value FROM scores s "
            f"JOIN generations g ON g.id = s.generation_id {where}",
            params,
        ):
            scores.setdefault(score["generation_id"], {})[score["metric"]] = score["value"]
        return [generation_from_row(row, scores.get(row["id"])) for row in rows]


def _renamed(generation: Generation, prompt_id: str, category: Any) -> Generation:
    if (generation.prompt_id, generation.category) == (prompt_id, category):
        return generation
    return replace(generation, prompt_id=prompt_id, category=category)
