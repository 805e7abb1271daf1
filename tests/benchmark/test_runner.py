"""A full small run on the tiny models: images, database rows, scores, reports, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from benchmark import ResultsDirError, ResultsStore, RunnerBusyError, load_config, run_benchmark
from benchmark.cli import main
from benchmark.errors import EXIT_DISK_FULL
from benchmark.results import ensure_results_dir, exclusive
from benchmark.store import DB_NAME
from tests.benchmark.conftest import db_rows, fill_disk, model_table, small_tmpfs, write_config


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_full_run(
    tiny_models: Any,
    bench_dirs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data, results = bench_dirs["data"], bench_dirs["results"]
    prompts = [
        {"id": "fox", "prompt": "a red fox in the snow", "category": "animals"},
        {"id": "long", "prompt": "a very long prompt " * 40, "category": "stress"},
    ]
    (data / "animals.json").write_text(json.dumps(prompts))
    (data / "broken.json").write_text('[{"prompt": "fine"}, {"prompt": ""}]')
    config_path = write_config(
        tmp_path / "bench.toml",
        tiny_models,
        [
            model_table("tiny", tiny_models.pipeline),
            model_table("ghost", tmp_path / "no-such-folder"),
            model_table("unknown-hub", "nobody-here/no-such-model"),
        ],
        seeds=(0, 1),
    )
    summary = run_benchmark(load_config(config_path), data_dir=data, results_dir=results)

    # The bad prompt set is reported with its entry and skipped; the good one ran.
    assert len(summary.set_errors) == 1
    assert "broken.json, entry 1: empty prompt" in summary.set_errors[0]
    assert (summary.total, summary.ok, summary.failed) == (12, 4, 8)
    rows = db_rows(results)
    assert len(rows) == 12
    assert len({(r["model"], r["prompt_id"], r["seed"]) for r in rows}) == 12
    ok = [r for r in rows if r["status"] == "ok"]
    assert {r["model"] for r in ok} == {"tiny"}
    for row in ok:
        image = results / row["image_path"]
        assert row["image_path"].startswith("images/animals/tiny/")
        with Image.open(image) as png:
            assert png.format == "PNG"
            assert png.size == (64, 64)
        assert (row["width"], row["height"], row["steps"]) == (64, 64, 2)
        assert row["latency_s"] > 0
        assert row["steps_per_s"] == pytest.approx(2 / row["latency_s"])
        assert row["lease_wait_s"] >= 0
        assert row["yields"] == 0
        assert row["peak_mem_bytes"] is None  # CPU: no CUDA allocator to ask
        assert row["energy_j"] is None  # no NVML here
        assert isinstance(row["clip_score"], float)
        assert isinstance(row["aesthetic_score"], float)
        assert row["category"] in ("animals", "stress")
    # Models that cannot load are failed per image, with the reason, and the run went on.
    ghost = [r for r in rows if r["model"] == "ghost"]
    assert all("no-such-folder" in r["error"] and "model_index.json" in r["error"] for r in ghost)
    hub = [r for r in rows if r["model"] == "unknown-hub"]
    assert all("nobody-here/no-such-model" in r["error"] for r in hub)
    assert all(r["image_path"] is None for r in ghost + hub)
    assert not list((results / "images").glob("**/.*.tmp.png"))

    # Reports, with the run's rows.
    assert summary.reports is not None
    assert set(summary.reports) == {"json", "csv", "md", "html"}
    assert all(p.is_file() and p.parent == results / "reports" / summary.run_id
               for p in summary.reports.values())  # fmt: skip

    # Run again: nothing is made twice (the failures of the first run are retried).
    again = run_benchmark(
        load_config(config_path), data_dir=data, results_dir=results, models=["tiny"], report=False
    )
    assert again.run_id != summary.run_id
    assert (again.total, again.made, again.ok) == (4, 0, 4)
    assert len(db_rows(results)) == 12

    # The CLI over the same results: status, report again, check.
    assert main(["status", "--results-dir", str(results), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in status["runs"]] == [again.run_id, summary.run_id]
    assert (status["runs"][1]["ok"], status["runs"][1]["failed"]) == (4, 8)
    assert main(["report", "--results-dir", str(results), "--run", summary.run_id]) == 0
    assert "html:" in capsys.readouterr().out
    code = main(["check", "--config", str(config_path), "--data-dir", str(data)])
    out = capsys.readouterr().out
    assert code == 1
    assert "error  prompt set" in out
    assert "ok     " in out


def test_unwritable_results_folder_stops_at_once(
    tiny_models: Any, bench_dirs: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (bench_dirs["data"] / "p.txt").write_text("a cat\n")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the results folder should be")
    results = blocker / "results"
    config_path = write_config(
        tmp_path / "b.toml", tiny_models, [model_table("tiny", tiny_models.pipeline)]
    )
    with pytest.raises(ResultsDirError, match=str(results)):
        run_benchmark(load_config(config_path), data_dir=bench_dirs["data"], results_dir=results)
    code = main(["run", "--config", str(config_path), "--data-dir", str(bench_dirs["data"]),
                 "--results-dir", str(results)])  # fmt: skip
    assert code == 2
    assert f"results folder {results} is not writable" in caplog.text


def test_second_runner_on_the_same_folder_is_refused(
    tiny_models: Any, bench_dirs: dict[str, Path], tmp_path: Path
) -> None:
    (bench_dirs["data"] / "p.txt").write_text("a cat\n")
    config_path = write_config(
        tmp_path / "b.toml", tiny_models, [model_table("tiny", tiny_models.pipeline)]
    )
    bench_dirs["results"].mkdir()
    with exclusive(bench_dirs["results"]), pytest.raises(RunnerBusyError, match="another"):
        run_benchmark(
            load_config(config_path),
            data_dir=bench_dirs["data"],
            results_dir=bench_dirs["results"],
        )


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_full_image_folder_stops_the_run_unfinished_and_resumable(
    tiny_models: Any, bench_dirs: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data, results = bench_dirs["data"], bench_dirs["results"]
    (data / "p.txt").write_text("a cat\na dog\n")
    config = write_config(
        tmp_path / "b.toml", tiny_models, [model_table("tiny", tiny_models.pipeline)], score=False
    )
    args = ["run", "--config", str(config), "--data-dir", str(data), "--results-dir", str(results)]
    with small_tmpfs(results / "images", size="1m") as images:
        filler = fill_disk(images)
        # Before: every image "failed" with ENOSPC, the run marked finished, exit 0.
        assert main(args) == EXIT_DISK_FULL
        assert "image folder" in caplog.text
        assert "is full" in caplog.text
        assert "run again to resume" in caplog.text
        assert db_rows(results) == []  # no image recorded as failed for want of space
        with ResultsStore(results / DB_NAME) as store:
            stopped = store.run()
            assert stopped is not None
            assert stopped.finished_at is None
        filler.unlink()
        caplog.clear()
        assert main([*args, "--no-report"]) == 0
        assert "(resumed)" in caplog.text
        rows = db_rows(results)
        assert [r["status"] for r in rows] == ["ok", "ok"]
        assert {r["run_id"] for r in rows} == {stopped.id}
        with ResultsStore(results / DB_NAME) as store:
            finished = store.run(stopped.id)
            assert finished is not None
            assert finished.finished_at is not None


@pytest.mark.timeout(300)
def test_a_full_database_disk_stops_the_run_with_its_exit_code(
    tiny_models: Any, bench_dirs: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data, results = bench_dirs["data"], bench_dirs["results"]
    (data / "p.txt").write_text("a cat\n")
    config = write_config(
        tmp_path / "b.toml", tiny_models, [model_table("tiny", tiny_models.pipeline)], score=False
    )
    args = ["run", "--config", str(config), "--data-dir", str(data), "--results-dir", str(results)]
    with small_tmpfs(results, size="1m"):
        ensure_results_dir(results)
        filler = fill_disk(results)
        # Before: a raw sqlite3.OperationalError traceback and exit 1.
        assert main(args) == EXIT_DISK_FULL
        assert f"the results database {results / DB_NAME} cannot be written" in caplog.text
        filler.unlink()
        assert main([*args, "--no-report"]) == 0
        assert [r["status"] for r in db_rows(results)] == ["ok"]
