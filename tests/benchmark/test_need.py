"""A model's need: the working-memory key, the store keeping it, older databases upgraded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from benchmark import ResultsStore
from benchmark.config import ModelSpec
from benchmark.need import estimate_need, working_key
from benchmark.schema import SCHEMA
from tests.benchmark.model_files import model_folder

NEW = ("device", "placement", "resident_mem_bytes", "working_mem_bytes")


def _spec(**kw: object) -> ModelSpec:
    values: dict[str, object] = {"steps": 4, "guidance": 0.0, "width": 512, "height": 512}
    values.update({"source": "org/m", "declared": "org/m", **kw})
    return ModelSpec(name="m", **values)  # type: ignore[arg-type]


def test_the_key_changes_with_what_changes_working_memory() -> None:
    base = working_key(_spec())
    assert working_key(_spec(steps=30, guidance=7.0)) == base  # per image, not per step
    assert working_key(_spec(width=1024)) != base
    assert working_key(_spec(dtype="float32")) != base
    assert working_key(_spec(variant="fp16")) != base


def test_the_store_keeps_the_measured_working_memory(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite3"
    with ResultsStore(path) as store:
        assert store.working_memory("k") is None
        store.remember_working_memory("k", 3 * 2**30)
        store.remember_working_memory("k", 2 * 2**30)  # the latest measure wins
    with ResultsStore.for_reading(path) as store:
        assert store.working_memory("k") == 2 * 2**30


def test_the_next_run_places_by_the_stored_figure(tmp_path: Path) -> None:
    folder = model_folder(tmp_path / "m", "StableDiffusionPipeline", {"unet": {"w": ("F16", (8,))}})
    spec = _spec(source=str(folder), dtype="fp16")
    with ResultsStore(tmp_path / "b.sqlite3") as store:
        store.remember_working_memory(working_key(spec), 123 * 2**20)
        need = estimate_need(spec, "cuda:0", store.working_memory(working_key(spec)))
    assert need is not None
    assert need.working_bytes == 123 * 2**20
    assert need.working_measured


def test_a_database_without_the_newer_measures_gains_their_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = SCHEMA
    for name in NEW:
        old = "\n".join(line for line in old.splitlines() if not line.strip().startswith(name))
    old = (
        old.split("CREATE TABLE IF NOT EXISTS working_memory")[0]
        + old.split("measured_at TEXT NOT NULL\n);")[1]
    )
    db = sqlite3.connect(path)
    db.executescript(old)
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()
    with ResultsStore(path) as store:
        store.remember_working_memory("k", 1)
        columns = {r[1] for r in store._db.execute("PRAGMA table_info(generations)")}
    assert set(NEW) <= columns
    kinds = {r[1]: r[2] for r in sqlite3.connect(path).execute("PRAGMA table_info(generations)")}
    assert kinds["placement"] == "TEXT"
    assert kinds["resident_mem_bytes"] == "INTEGER"
