"""The runner yields the GPU to a high-priority holder between denoising steps and completes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from gpu_coord import lease, read_status
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
def test_runner_yields_between_steps_and_completes(
    tiny_models: Any, bench_dirs: dict[str, Path], tmp_path: Path
) -> None:
    coord, results = bench_dirs["coord"], bench_dirs["results"]
    (bench_dirs["data"] / "p.txt").write_text("a cat\na dog\n")
    # Many cheap steps: the high-priority requests below land mid-image.
    model = model_table("tiny", tiny_models.pipeline, steps=40, guidance=1.0)
    config = write_config(tmp_path / "b.toml", tiny_models, [model], score=False)
    log = tmp_path / "runner.log"
    grants = []
    with runner_process(["run", "--no-report"], runner_env(bench_dirs, config), log) as proc:
        for _ in range(3):
            holding = wait_for(
                lambda: proc.poll() is not None or read_status(path=coord)["owner"] == "benchmark",
                timeout=300,
                what="the runner to hold the GPU",
            )
            if proc.poll() is not None or not holding:
                break
            with lease("test-backend", priority="high", path=coord, timeout=120) as held:
                grants.append(held.wait_seconds)
                assert read_status(path=coord)["owner"] == "test-backend"
                time.sleep(0.5)
        assert proc.wait(timeout=300) == 0, log.read_text()[-4000:]
    rows = db_rows(results)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert grants, "never saw the runner holding the GPU"
    yielded = [r for r in rows if r["yields"] > 0]
    assert yielded, f"no image yielded; grants waited {grants}"
    # The time the runner spent handed over is lease wait, not generation latency.
    assert all(r["lease_wait_s"] >= 0.4 for r in yielded)
    assert all(r["latency_s"] > 0 for r in rows)
