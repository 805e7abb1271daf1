"""The command line: exit codes for bad names and folders; a read-only results folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmark import Generation, ItemKey, ResultsStore
from benchmark.cli import main
from benchmark.errors import EXIT_USAGE
from benchmark.records import prompt_hash
from benchmark.store import DB_NAME
from tests.benchmark.conftest import model_table, remount, small_tmpfs, write_config


def _config(tiny_models: Any, tmp_path: Path) -> Path:
    return write_config(
        tmp_path / "b.toml", tiny_models, [model_table("tiny", tiny_models.pipeline)]
    )


def test_an_unknown_set_or_a_missing_data_folder_exits_non_zero(
    tiny_models: Any,
    bench_dirs: dict[str, Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (bench_dirs["data"] / "animals.txt").write_text("a cat\n")
    config = _config(tiny_models, tmp_path)
    common = ["--config", str(config), "--results-dir", str(bench_dirs["results"])]
    data = ["--data-dir", str(bench_dirs["data"])]
    # Before: 0, with "no usable prompt sets" as a warning.
    assert main(["run", *common, *data, "--set", "typo"]) == EXIT_USAGE
    assert "unknown prompt set(s) typo" in caplog.text
    assert "there: animals" in caplog.text
    missing = tmp_path / "no-such-data"
    assert main(["run", *common, "--data-dir", str(missing)]) == EXIT_USAGE
    assert f"prompt-set folder {missing} does not exist" in caplog.text
    assert main(["check", "--config", str(config), "--data-dir", str(missing)]) == EXIT_USAGE
    assert main(["run", *common, *data, "--model", "typo"]) == EXIT_USAGE  # as it was
    assert not (bench_dirs["results"] / DB_NAME).exists()  # nothing was started


def _results_with_one_run(results: Path) -> str:
    with ResultsStore(results / DB_NAME) as store:
        run_id, _ = store.start_run(
            config_name="b.toml",
            config_json={},
            prompt_sets=[{"name": "set", "hash": "h1"}],
            models=[{"name": "m", "fingerprint": "f1"}],
        )
        store.remember_prompt_set(
            content_hash="h1",
            name="set",
            path="set.txt",
            members=[("0001", prompt_hash("a"), None)],
        )
        key = ItemKey("set", prompt_hash("a"), "m", "f1", 0)
        store.record(Generation(run_id=run_id, key=key, prompt_id="0001", prompt="a",
                                category=None, model_source="org/m", status="failed",
                                error="timed out"))  # fmt: skip
        store.finish_run(run_id)
    return run_id


def test_status_and_report_read_a_read_only_results_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with small_tmpfs(tmp_path / "results", size="8m") as results:
        run_id = _results_with_one_run(results)
        remount(results, "ro")
        try:
            # Before: "unable to open database file" and a traceback, for both.
            assert main(["status", "--results-dir", str(results), "--json"]) == 0
            status = json.loads(capsys.readouterr().out)
            assert [(r["id"], r["ok"], r["failed"]) for r in status["runs"]] == [(run_id, 0, 1)]
            assert main(["report", "--results-dir", str(results)]) == EXIT_USAGE
            assert "read-only results folder: give --out DIR" in caplog.text
            out = tmp_path / "elsewhere"
            assert main(["report", "--results-dir", str(results), "--out", str(out)]) == 0
            assert (out / "report.html").is_file()
            assert "timed out" in (out / "report.md").read_text()
        finally:
            remount(results, "rw")
