"""The results store: WAL, one row per item, atomic replace, rows in the report contract's shape."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from benchmark import ResultsStore
from benchmark.store import REPORT_KEYS, ItemKey

CONTRACT_KEYS = {
    "prompt_set", "prompt_id", "prompt", "category", "model", "seed", "status", "error",
    "image_path", "width", "height", "steps", "latency_s", "steps_per_s", "peak_mem_bytes",
    "lease_wait_s", "yields", "energy_j", "clip_score", "aesthetic_score",
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
        store.finish_run(other["id"])
        assert _start(store)[1] is False  # the latest run was finished: a new run
    mode = sqlite3.connect(tmp_path / "db.sqlite3").execute("PRAGMA journal_mode").fetchone()
    assert mode[0] == "wal"


def test_record_replaces_and_rows_follow_the_contract(tmp_path: Path) -> None:
    key = ItemKey("h1", "m", "f1", "p1", 0)
    with ResultsStore(tmp_path / "db.sqlite3") as store:
        run_id, _ = _start(store)
        common = {"run_id": run_id, "key": key, "prompt_set": "set", "prompt": "a cat",
                  "category": "animals", "model_source": "org/m"}  # fmt: skip
        store.record(**common, status="failed", error="timed out")
        store.record(
            **common,
            status="ok",
            image_path="images/set/m/p1.png",
            measures={"width": 64, "height": 64, "steps": 2, "latency_s": 0.5, "yields": 1},
            scores={"clip_score": 21.5, "aesthetic_score": 4.0},
        )
        run = store.run(run_id)
        assert run is not None
        assert {"id", "started_at", "finished_at", "config", "prompt_sets", "models"} <= set(run)
        rows = store.report_rows(run)
        assert len(rows) == 1
        assert set(rows[0]) == CONTRACT_KEYS == set(REPORT_KEYS)
        assert rows[0]["status"] == "ok"
        assert rows[0]["error"] is None
        assert rows[0]["clip_score"] == 21.5
        assert rows[0]["yields"] == 1
        done = store.done_items("h1", "m", "f1")
        assert done[key].status == "ok"
        assert store.counts() == {"ok": 1}
        scores = store._db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
        assert scores == 1  # the failed attempt's row went, with nothing left behind
