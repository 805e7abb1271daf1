"""The per-image timeout: a generation that runs too long is killed, failed with the reason,
its worker restarted, and the run goes on."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from benchmark import load_config, run_benchmark
from tests.benchmark.conftest import db_rows, model_table, write_config


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_timeout_is_recorded_and_the_run_goes_on(
    tiny_models: Any, bench_dirs: dict[str, Path], tmp_path: Path
) -> None:
    (bench_dirs["data"] / "p.txt").write_text("a cat\na dog\n")
    models = [
        # 500 steps at 256x256 take far longer than the 1.5 s this model is allowed.
        model_table("slow", tiny_models.pipeline, steps=500, width=256, height=256, timeout_s=1.5),
        model_table("fine", tiny_models.pipeline),
    ]
    config = load_config(write_config(tmp_path / "b.toml", tiny_models, models, score=False))
    summary = run_benchmark(
        config, data_dir=bench_dirs["data"], results_dir=bench_dirs["results"], report=False
    )
    rows = {(r["model"], r["prompt_id"]): r for r in db_rows(bench_dirs["results"])}
    assert len(rows) == 4
    for prompt_id in ("0001", "0002"):
        slow = rows[("slow", prompt_id)]
        assert slow["status"] == "failed"
        assert slow["error"] == "timed out after 1.5 s of generation (worker restarted)"
        assert slow["image_path"] is None
        assert rows[("fine", prompt_id)]["status"] == "ok"
    assert (summary.ok, summary.failed) == (2, 2)
    assert multiprocessing.active_children() == []  # every worker was reaped
    assert not list(bench_dirs["results"].glob("images/p/slow/*"))
