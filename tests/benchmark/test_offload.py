"""Out of memory mid-image: flush, retry one placement lower, else fail the image; the run goes on.

The error is a real ``torch.cuda.OutOfMemoryError`` raised inside the pipeline
(from its first step) by the worker's test-only injection
(``BENCHMARK_TEST_INJECT_OOM``); everything after it is the real recovery path,
diffusers' model CPU offload included (with the CPU as its target here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops

from benchmark import load_config, run_benchmark
from benchmark.offload import INJECT_OOM_ENV
from tests.benchmark.conftest import db_rows, model_table, write_config


def _run(tiny: Any, dirs: dict[str, Path], tmp_path: Path, name: str, **settings: Any) -> Path:
    config = write_config(
        tmp_path / f"{name}.toml", tiny, [model_table("tiny", tiny.pipeline, **settings)],
        score=False,
    )  # fmt: skip
    results = tmp_path / name
    run_benchmark(load_config(config), data_dir=dirs["data"], results_dir=results, report=False)
    return results


def _rows(results: Path) -> dict[str, dict[str, Any]]:
    return {r["prompt"]: r for r in db_rows(results)}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_an_out_of_memory_image_is_retried_lower_or_failed_with_the_figures(
    tiny_models: Any, bench_dirs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (bench_dirs["data"] / "p.txt").write_text("a cat\na dog\na fox\n")
    reference = _rows(_run(tiny_models, bench_dirs, tmp_path, "reference"))
    assert {r["placement"] for r in reference.values()} == {"gpu"}

    # One injected error: the first image retries with model offload and succeeds.
    monkeypatch.setenv(INJECT_OOM_ENV, "1")
    once = _run(tiny_models, bench_dirs, tmp_path, "once")
    rows = _rows(once)
    assert [r["status"] for r in rows.values()] == ["ok", "ok", "ok"]
    # After the error the model stays one placement lower, and the images are the same.
    assert {r["placement"] for r in rows.values()} == {"model_offload"}
    for prompt, row in rows.items():
        made = Image.open(once / row["image_path"]).convert("RGB")
        ref = Image.open(tmp_path / "reference" / reference[prompt]["image_path"]).convert("RGB")
        assert ImageChops.difference(made, ref).getbbox() is None, prompt

    # Two: the retry runs out of memory too, so that image fails with the figures,
    # and the next images are made at the lower placement.
    monkeypatch.setenv(INJECT_OOM_ENV, "2")
    twice = _rows(_run(tiny_models, bench_dirs, tmp_path, "twice"))
    failed = [r for r in twice.values() if r["status"] == "failed"]
    assert len(failed) == 1
    error = failed[0]["error"]
    assert "out of memory (placement gpu, peak ?, resident ?)" in error
    assert "out of memory again (placement model_offload" in error
    assert "injected by BENCHMARK_TEST_INJECT_OOM" in error
    assert [r["placement"] for r in twice.values() if r["status"] == "ok"] == ["model_offload"] * 2


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_configured_offload_makes_the_same_images(
    tiny_models: Any, bench_dirs: dict[str, Path], tmp_path: Path
) -> None:
    (bench_dirs["data"] / "p.txt").write_text("a cat\n")
    gpu = _run(tiny_models, bench_dirs, tmp_path, "gpu")
    offload = _run(tiny_models, bench_dirs, tmp_path, "offload", placement="model_offload")
    a, b = _rows(gpu)["a cat"], _rows(offload)["a cat"]
    assert (a["placement"], b["placement"]) == ("gpu", "model_offload")
    same = ImageChops.difference(
        Image.open(gpu / a["image_path"]).convert("RGB"),
        Image.open(offload / b["image_path"]).convert("RGB"),
    )
    assert same.getbbox() is None
