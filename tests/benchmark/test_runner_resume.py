"""Resume: a runner SIGKILLed mid-run finishes on restart with one result per item, none lost."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from benchmark import Generation, ItemKey, ResultsStore, load_config, load_prompt_set
from benchmark.plan import plan_model
from benchmark.results import image_relpath
from tests.benchmark.conftest import (
    db_rows,
    model_table,
    runner_env,
    runner_process,
    wait_for,
    write_config,
)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sigkill_mid_run_then_resume(
    tiny_models: Any, bench_dirs: dict[str, Path], tmp_path: Path
) -> None:
    results = bench_dirs["results"]
    (bench_dirs["data"] / "set.txt").write_text("".join(f"prompt number {i}\n" for i in range(6)))
    config = write_config(
        tmp_path / "b.toml", tiny_models, [model_table("tiny", tiny_models.pipeline)]
    )
    env = runner_env(bench_dirs, config)
    log = tmp_path / "runner.log"
    with runner_process(["run"], env, log) as proc:
        wait_for(lambda: len(db_rows(results)) >= 2, timeout=300, what="2 rows", proc=proc, log=log)
        os.killpg(proc.pid, signal.SIGKILL)  # runner and worker, mid-run, no warning
        proc.wait(timeout=30)
    killed_at = len(db_rows(results))
    assert 2 <= killed_at < 6, "the run should have been killed part-way"

    with runner_process(["run"], env, log) as proc:
        assert proc.wait(timeout=400) == 0, log.read_text()[-4000:]
    rows = db_rows(results)
    keys = [(r["prompt_id"], r["seed"]) for r in rows]
    assert len(rows) == 6
    assert len(set(keys)) == 6
    assert all(r["status"] == "ok" for r in rows)
    assert len({r["run_id"] for r in rows}) == 1  # the unfinished run was resumed
    assert "(resumed)" in log.read_text()
    images = sorted(p.relative_to(results).as_posix() for p in results.glob("images/**/*.png"))
    assert images == sorted(r["image_path"] for r in rows)
    assert not list(results.glob("images/**/.*"))  # no temp file left behind


def test_plan_treats_image_without_row_as_not_done(tiny_models: Any, tmp_path: Path) -> None:
    data = tmp_path / "p.txt"
    data.write_text("a cat\na dog\na cow\n")
    pset = load_prompt_set(data)
    config = load_config(
        write_config(tmp_path / "b.toml", tiny_models, [model_table("m", tiny_models.pipeline)])
    )
    model = config.models[0]
    cat, dog, cow = pset.prompts
    with ResultsStore(tmp_path / "db.sqlite3") as store:
        run_id, _ = store.start_run(config_name="b.toml", config_json={}, prompt_sets=[], models=[])
        # An image on disk whose row was never written (killed between the two).
        orphan = tmp_path / image_relpath(pset, model, cat, 0)
        orphan.parent.mkdir(parents=True)
        orphan.write_bytes(b"whole or not, it has no row")
        # A row whose image has gone missing since.
        key = ItemKey(pset.name, dog.content_hash, "m", model.fingerprint, 0)
        store.record(Generation(run_id=run_id, key=key, prompt_id=dog.id, prompt=dog.text,
                                category=None, model_source=model.source, status="ok",
                                image_path=image_relpath(pset, model, dog, 0)))  # fmt: skip
        # A failure of this very run: done (a resumed run does not retry it).
        failed = ItemKey(pset.name, cow.content_hash, "m", model.fingerprint, 0)
        store.record(Generation(run_id=run_id, key=failed, prompt_id=cow.id, prompt=cow.text,
                                category=None, model_source=model.source, status="failed",
                                error="x"))  # fmt: skip
        pending, done = plan_model(store, run_id, tmp_path, [pset], model, (0,))
        assert sorted(i.prompt.id for i in pending) == [cat.id, dog.id]
        assert done == 1
        # The next run retries the failure.
        pending, done = plan_model(store, "another-run", tmp_path, [pset], model, (0,))
        assert sorted(i.prompt.id for i in pending) == [cat.id, dog.id, cow.id]
