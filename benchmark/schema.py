"""The results database's tables, built from the records, and the upgrade from older layouts.

Version 2 (``PRAGMA user_version``) keys a generation by prompt set *name*,
prompt *content* hash, model, model fingerprint and seed, keeps each
prompt-set version's membership in ``set_prompts``, so an edited set reuses the
results of the prompts it still has, and keeps scores in long form (generation,
metric, value), so a new scorer needs no new column. Version 1 (no
``user_version``) keyed by the set's content hash and the prompt id and had one
column per score; :func:`upgrade` rewrites it in place, once.
"""

from __future__ import annotations

import sqlite3
import types
import typing
from collections import defaultdict
from dataclasses import asdict, fields
from typing import Any

from benchmark.records import (
    MEASURE_COLUMNS,
    Generation,
    ItemKey,
    Measures,
    prompt_hash,
)

__all__ = [
    "GENERATION_COLUMNS",
    "SCHEMA",
    "VERSION",
    "generation_from_row",
    "row_values",
    "upgrade",
]

VERSION = 2


def _sql_type(annotation: Any) -> str:
    kinds = set(typing.get_args(annotation)) or {annotation}
    kinds.discard(types.NoneType)
    if kinds == {str}:
        return "TEXT"
    return "INTEGER" if kinds == {int} else "REAL"


_HINTS = typing.get_type_hints(Measures)
_MEASURE_SQL = ",\n    ".join(f"{f.name} {_sql_type(_HINTS[f.name])}" for f in fields(Measures))

# The columns of ``generations`` the store writes, in order (``id`` aside).
GENERATION_COLUMNS = (
    "run_id", "prompt_set", "prompt_hash", "prompt_id", "prompt", "category", "model",
    "model_fingerprint", "model_source", "seed", "status", "error", "image_path",
    *MEASURE_COLUMNS, "created_at",
)  # fmt: skip

SCHEMA = f"""
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
CREATE TABLE IF NOT EXISTS set_prompts (
    set_hash TEXT NOT NULL,
    position INTEGER NOT NULL,
    prompt_id TEXT NOT NULL,
    prompt_hash TEXT NOT NULL,
    category TEXT,
    PRIMARY KEY (set_hash, position)
);
CREATE TABLE IF NOT EXISTS generations (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id),
    prompt_set TEXT NOT NULL,
    prompt_hash TEXT NOT NULL,
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
    {_MEASURE_SQL},
    created_at TEXT NOT NULL,
    UNIQUE (prompt_set, prompt_hash, model, model_fingerprint, seed)
);
CREATE TABLE IF NOT EXISTS working_memory (
    model_key TEXT PRIMARY KEY,
    working_bytes INTEGER NOT NULL,
    measured_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS scores (
    generation_id INTEGER NOT NULL REFERENCES generations(id) ON DELETE CASCADE,
    metric TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (generation_id, metric)
);
"""


def row_values(generation: Generation, *, created_at: str) -> tuple[Any, ...]:
    """The values of ``GENERATION_COLUMNS`` for ``generation``, in order."""
    key = generation.key
    measures = asdict(generation.measures) if generation.measures is not None else {}
    values = {
        **asdict(generation),
        **asdict(key),
        **{name: measures.get(name) for name in MEASURE_COLUMNS},
        "created_at": created_at,
    }
    return tuple(values[c] for c in GENERATION_COLUMNS)


def generation_from_row(row: sqlite3.Row, scores: dict[str, float] | None) -> Generation:
    """A ``generations`` row and its scores (None: not scored)."""
    measured = row["status"] == "ok" and row["latency_s"] is not None
    names = set(row.keys())  # a read-only older database may lack the newer measures
    measures: dict[str, Any] = {n: row[n] if n in names else None for n in MEASURE_COLUMNS}
    key_fields = (f.name for f in fields(ItemKey))
    return Generation(
        run_id=row["run_id"],
        key=ItemKey(*(row[name] for name in key_fields)),
        prompt_id=row["prompt_id"],
        prompt=row["prompt"],
        category=row["category"],
        model_source=row["model_source"],
        status=row["status"],
        error=row["error"],
        image_path=row["image_path"],
        measures=Measures(**measures) if measured else None,
        scores=scores,
        created_at=row["created_at"],
    )


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {str(row[1]) for row in db.execute(f"PRAGMA table_info({table})")}


def upgrade(db: sqlite3.Connection) -> None:
    """Bring the database to :data:`VERSION`; call inside a write transaction."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version >= VERSION:
        _add_missing(db)
        return
    if "set_hash" in _columns(db, "generations"):
        _from_v1(db)
    for statement in _statements():
        db.execute(statement)
    db.execute(f"PRAGMA user_version = {VERSION}")


def _add_missing(db: sqlite3.Connection) -> None:
    # Additive changes need no new version: a new table is created, a new measure
    # (a new field of Measures) becomes a new column, empty in the older rows.
    for statement in _statements():
        db.execute(statement)
    have = _columns(db, "generations")
    for f in fields(Measures):
        if f.name not in have:
            db.execute(f"ALTER TABLE generations ADD COLUMN {f.name} {_sql_type(_HINTS[f.name])}")


def _statements() -> list[str]:
    # One by one: executescript would commit the caller's transaction.
    return [s.strip() for s in SCHEMA.split(";") if s.strip()]


def _from_v1(db: sqlite3.Connection) -> None:
    # Version 1 had exactly these two score columns.
    old = db.execute(
        "SELECT g.*, s.clip_score, s.aesthetic_score FROM generations g "
        "LEFT JOIN scores s ON s.generation_id = g.id ORDER BY g.id"
    ).fetchall()
    # A text repeated in one set version is told apart by its rank among the ids
    # that carry it, as benchmark.prompts numbers the repeats.
    ids: dict[tuple[str, str], set[str]] = defaultdict(set)
    members: dict[str, dict[str, tuple[str, str | None]]] = defaultdict(dict)
    for row in old:
        ids[(row["set_hash"], row["prompt"])].add(row["prompt_id"])
    for row in old:
        repeat = sorted(ids[(row["set_hash"], row["prompt"])]).index(row["prompt_id"])
        text = row["prompt"] if not repeat else f"{row['prompt']}\0{repeat}"
        members[row["set_hash"]][row["prompt_id"]] = (prompt_hash(text), row["category"])
    db.execute("DROP TABLE scores")
    db.execute("DROP TABLE generations")
    for statement in _statements():
        db.execute(statement)
    for set_hash, prompts in members.items():
        for position, pid in enumerate(sorted(prompts)):
            content, category = prompts[pid]
            db.execute(
                "INSERT OR IGNORE INTO set_prompts VALUES (?, ?, ?, ?, ?)",
                (set_hash, position, pid, content, category),
            )
    marks = ", ".join("?" * (1 + len(GENERATION_COLUMNS)))
    for row in old:  # in id order: the newest result of a key wins
        content = members[row["set_hash"]][row["prompt_id"]][0]
        values = {**dict(row), "prompt_hash": content}
        db.execute(
            "DELETE FROM generations WHERE prompt_set = ? AND prompt_hash = ? AND model = ? "
            "AND model_fingerprint = ? AND seed = ?",
            (row["prompt_set"], content, row["model"], row["model_fingerprint"], row["seed"]),
        )
        db.execute(
            f"INSERT INTO generations (id, {', '.join(GENERATION_COLUMNS)}) VALUES ({marks})",
            (row["id"], *(values.get(c) for c in GENERATION_COLUMNS)),  # newer measures: none
        )
        for metric in ("clip_score", "aesthetic_score"):
            if row[metric] is not None:
                db.execute("INSERT INTO scores VALUES (?, ?, ?)", (row["id"], metric, row[metric]))
    db.execute("DELETE FROM scores WHERE generation_id NOT IN (SELECT id FROM generations)")
