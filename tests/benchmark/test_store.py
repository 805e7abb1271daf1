"""The results store: WAL, one row per item, atomic replace, rows in the report contract's shape."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest

from benchmark import DiskFullError, Generation, ItemKey, Measures, ResultsStore, StoreError
from benchmark.records import prompt_hash, row_columns
from tests.benchmark.conftest import fill_disk, remount, small_tmpfs

CONTRACT_KEYS = {
    "prompt_set", "prompt_id", "prompt", "category", "model", "seed", "status", "error",
    "image_path", "width", "height", "steps", "latency_s", "steps_per_s", "peak_mem_bytes",
    "lease_wait_s", "yields", "energy_j", "device", "placement", "resident_mem_bytes",
    "working_mem_bytes", "clip_score", "aesthetic_score", "pickscore", "hps_v21",
}  # fmt: skip


def _start(store: ResultsStore, config: str = "bench.toml") -> tuple[str, bool]:
    return store.start_run(
        config_name=config,
        config_json={"k": 1},
        prompt_sets=[{"name": "set", "hash": "h1"}],
        models=[{"name": "m", "fingerprint": "f1"}],
    )


def test_wal_and_resume_of_unfinished_run(tmp_path: Path) -> None:
    with ResultsStore(tmp_path / "db.sqlite3") as store:
        run_id, resumed = _start(store)
        assert not resumed
        assert _start(store) == (run_id, True)
        assert _start(store, "other.toml")[1] is False  # another config: a new run
        other = store.run()
        assert other is not None
        store.finish_run(other.id)
        assert _start(store)[1] is False  # the latest run was finished: a new run
    mode = sqlite3.connect(tmp_path / "db.sqlite3").execute("PRAGMA journal_mode").fetchone()
    assert mode[0] == "wal"


def test_record_replaces_and_rows_follow_the_contract(tmp_path: Path) -> None:
    key = ItemKey("set", "p1hash", "m", "f1", 0)
    with ResultsStore(tmp_path / "db.sqlite3") as store:
        run_id, _ = _start(store)
        store.remember_prompt_set(
            content_hash="h1", name="set", path="set.txt", members=[("p1", "p1hash", "animals")]
        )
        common = {"run_id": run_id, "key": key, "prompt_id": "p1", "prompt": "a cat",
                  "category": "animals", "model_source": "org/m"}  # fmt: skip
        store.record(Generation(**common, status="failed", error="timed out"))
        measures = Measures(width=64, height=64, steps=2, latency_s=0.5, steps_per_s=4.0,
                            peak_mem_bytes=None, lease_wait_s=0.0, yields=1,
                            energy_j=None)  # fmt: skip
        store.record(
            Generation(
                **common,
                status="ok",
                image_path="images/set/m/p1.png",
                measures=measures,
                scores={"clip_score": 21.5, "aesthetic_score": 4.0},
            )
        )
        run = store.run(run_id)
        assert run is not None
        assert {"id", "started_at", "finished_at", "config", "prompt_sets", "models"} <= set(
            asdict(run)
        )
        rows = [g.as_row() for g in store.generations(run)]
        assert len(rows) == 1
        assert set(rows[0]) == CONTRACT_KEYS == set(row_columns())
        assert rows[0]["status"] == "ok"
        assert rows[0]["error"] is None
        assert rows[0]["clip_score"] == 21.5
        assert rows[0]["yields"] == 1
        done = store.done_items("set", "m", "f1")
        assert done[key].status == "ok"
        assert store.counts() == {"ok": 1}
        scores = store._db.execute("SELECT COUNT(DISTINCT generation_id) FROM scores").fetchone()[0]
        assert scores == 1  # the failed attempt's row went, with nothing left behind


def _generation(run_id: str, prompt: str, **fields: Any) -> Generation:
    key = ItemKey("set", prompt_hash(prompt), "m", "f1", 0)
    values: dict[str, Any] = {"prompt_id": "p", "category": None, "model_source": "org/m",
                              "status": "ok", "image_path": f"images/{prompt}.png"}  # fmt: skip
    values.update(fields)
    return Generation(run_id=run_id, key=key, prompt=prompt, **values)


def _record_until_full(store: ResultsStore, run_id: str) -> DiskFullError:
    for i in range(2000):  # rows enough to need new pages
        try:
            store.record(_generation(run_id, f"prompt {i} " + "x" * 2000))
        except DiskFullError as exc:
            return exc
    pytest.fail("the disk never filled up")


def test_a_full_disk_raises_disk_full_and_keeps_what_was_written(tmp_path: Path) -> None:
    with (
        small_tmpfs(tmp_path / "disk", size="1m") as disk,
        ResultsStore(disk / "db.sqlite3") as store,
    ):
        run_id, _ = _start(store)
        store.record(_generation(run_id, "first"))
        filler = fill_disk(disk)
        full = _record_until_full(store, run_id)
        assert isinstance(full, OSError)
        assert "db.sqlite3" in str(full)
        assert "disk is full" in str(full)
        with pytest.raises(DiskFullError):
            store.finish_run(run_id)
        filler.unlink()
        store.record(_generation(run_id, "after"))  # space again: the store goes on
        run = store.run(run_id)
        assert run is not None
        assert run.finished_at is None  # never marked finished
        first = ItemKey("set", prompt_hash("first"), "m", "f1", 0)
        assert store.done_items("set", "m", "f1")[first].status == "ok"


def test_a_read_only_folder_is_read_read_only(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "ro", size="4m") as folder:
        with ResultsStore(folder / "db.sqlite3") as store:
            run_id, _ = _start(store)
            store.remember_prompt_set(
                content_hash="h1", name="set", path="s.txt", members=[("p", prompt_hash("a"), None)]
            )
            store.record(_generation(run_id, "a"))
        remount(folder, "ro")
        try:
            with pytest.raises(sqlite3.OperationalError, match="unable to open"):
                ResultsStore(folder / "db.sqlite3")  # what status and report did before
            with ResultsStore.for_reading(folder / "db.sqlite3") as store:
                assert store.read_only
                run = store.run()
                assert run is not None
                assert run.id == run_id
                assert [g.prompt for g in store.generations(run)] == ["a"]
                assert store.counts(run) == {"ok": 1}
                with pytest.raises(StoreError, match="read-only"):
                    store.finish_run(run_id)
        finally:
            remount(folder, "rw")


V1_SCHEMA = """
CREATE TABLE runs (id TEXT PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT,
    config TEXT NOT NULL, config_json TEXT NOT NULL, prompt_sets TEXT NOT NULL,
    models TEXT NOT NULL);
CREATE TABLE prompt_sets (hash TEXT PRIMARY KEY, name TEXT NOT NULL, path TEXT NOT NULL,
    prompts INTEGER NOT NULL, first_seen TEXT NOT NULL);
CREATE TABLE generations (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs(id),
    prompt_set TEXT NOT NULL, set_hash TEXT NOT NULL, prompt_id TEXT NOT NULL,
    prompt TEXT NOT NULL, category TEXT, model TEXT NOT NULL, model_fingerprint TEXT NOT NULL,
    model_source TEXT NOT NULL, seed INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')), error TEXT, image_path TEXT,
    width INTEGER, height INTEGER, steps INTEGER, latency_s REAL, steps_per_s REAL,
    peak_mem_bytes INTEGER, lease_wait_s REAL, yields INTEGER, energy_j REAL,
    created_at TEXT NOT NULL, UNIQUE (set_hash, model, model_fingerprint, prompt_id, seed));
CREATE TABLE scores (generation_id INTEGER PRIMARY KEY REFERENCES generations(id)
    ON DELETE CASCADE, clip_score REAL, aesthetic_score REAL);
"""


def test_a_database_of_the_earlier_layout_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(V1_SCHEMA)
    sets = '[{"name": "set", "hash": "v2"}]'
    db.execute("INSERT INTO runs VALUES ('r1', 't', 't', 'b.toml', '{}', ?, ?)",
               (sets, '[{"name": "m", "fingerprint": "f1"}]'))  # fmt: skip
    rows = [  # two versions of one set: "a cat" in both, renumbered in the second
        (1, "v1", "0001", "a cat", 0.5), (2, "v1", "0002", "a dog", 0.6),
        (3, "v2", "0001", "a cow", 0.7), (4, "v2", "0002", "a cat", 0.8),
    ]  # fmt: skip
    for gid, set_hash, pid, prompt, latency in rows:
        db.execute(
            "INSERT INTO generations (id, run_id, prompt_set, set_hash, prompt_id, prompt, model, "
            "model_fingerprint, model_source, seed, status, image_path, width, height, steps, "
            "latency_s, steps_per_s, lease_wait_s, yields, created_at) VALUES "
            "(?, 'r1', 'set', ?, ?, ?, 'm', 'f1', 'org/m', 0, 'ok', ?, 64, 64, 2, ?, 4, 0, 0, 't')",
            (gid, set_hash, pid, prompt, f"images/{gid}.png", latency),
        )
        db.execute("INSERT INTO scores VALUES (?, ?, 5.0)", (gid, 20.0 + gid))
    db.commit()
    db.close()
    with ResultsStore(path) as store:
        run = store.run("r1")
        assert run is not None
        got = {(g.prompt_id, g.prompt): g for g in store.generations(run)}
        # The newest "a cat" result won; v2 calls it 0002; its scores came along.
        assert set(got) == {("0001", "a cow"), ("0002", "a cat")}
        cat = got[("0002", "a cat")]
        assert cat.measures is not None
        assert cat.measures.latency_s == 0.8
        assert cat.scores == {"clip_score": 24.0, "aesthetic_score": 5.0}
        assert cat.key.prompt_hash == prompt_hash("a cat")
        assert store.counts() == {"ok": 3}
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 2


def test_an_edited_set_reuses_the_results_of_its_unchanged_prompts(tmp_path: Path) -> None:
    with ResultsStore(tmp_path / "db.sqlite3") as store:
        run_id, _ = _start(store)
        store.remember_prompt_set(content_hash="h1", name="set", path="s.txt",
                                  members=[("0001", prompt_hash("a cat"), None)])  # fmt: skip
        store.record(_generation(run_id, "a cat", prompt_id="0001"))
        # Version 2 inserts a line above: "a cat" is now 0002, under another category.
        store.remember_prompt_set(
            content_hash="h2", name="set", path="s.txt",
            members=[("0001", prompt_hash("a cow"), None),
                     ("0002", prompt_hash("a cat"), "animals")],
        )  # fmt: skip
        run = store.run(run_id)
        assert run is not None
        edited = replace(run, prompt_sets=({"name": "set", "hash": "h2"},))
        known = store.done_items("set", "m", "f1")
        assert ItemKey("set", prompt_hash("a cat"), "m", "f1", 0) in known
        (cat,) = store.generations(edited)
        assert (cat.prompt_id, cat.category, cat.prompt) == ("0002", "animals", "a cat")


def test_scores_are_kept_in_long_form_whatever_the_metrics(tmp_path: Path) -> None:
    with ResultsStore(tmp_path / "db.sqlite3") as store:
        run_id, _ = _start(store)
        scores = {"clip_score": 20.0, "pick_score": 0.25}  # a metric no column was made for
        store.record(_generation(run_id, "a", scores=scores))
        store.record(_generation(run_id, "b", status="failed", error="x", image_path=None))
        known = store.done_items("set", "m", "f1")
        assert known[ItemKey("set", prompt_hash("a"), "m", "f1", 0)].scores == scores
        assert known[ItemKey("set", prompt_hash("b"), "m", "f1", 0)].scores is None
        stored = store._db.execute("SELECT metric, value FROM scores ORDER BY metric").fetchall()
        assert [tuple(r) for r in stored] == [("clip_score", 20.0), ("pick_score", 0.25)]
