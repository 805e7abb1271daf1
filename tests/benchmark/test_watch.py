"""Watching: a prompt set dropped into the data folder is run; an edited one is run as new."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

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
def test_watch_picks_up_new_and_edited_sets(
    tiny_models: Any, bench_dirs: dict[str, Path], tmp_path: Path
) -> None:
    data, results = bench_dirs["data"], bench_dirs["results"]
    (data / "first.txt").write_text("a cat\n")
    config = write_config(
        tmp_path / "b.toml", tiny_models, [model_table("tiny", tiny_models.pipeline)], score=False
    )
    log = tmp_path / "watch.log"

    def sets() -> list[tuple[str, str]]:
        return sorted((r["prompt_set"], r["prompt_id"]) for r in db_rows(results))

    with runner_process(["watch", "--poll", "0.3"], runner_env(bench_dirs, config), log) as proc:
        wait_for(lambda: sets() == [("first", "0001")], timeout=300, what="first set", proc=proc,
                 log=log)  # fmt: skip
        wait_for(lambda: "idle: watching" in log.read_text(), timeout=60, what="idle", proc=proc)
        first_row = db_rows(results)[0]
        # A new set copied in under a hidden name and renamed, and an edit of the first.
        hidden = data / ".second.txt.partial"
        hidden.write_text("a dog\n")
        hidden.rename(data / "second.txt")
        (data / "first.txt").write_text("a cat\na cow\n")
        # Results are kept per prompt text: the edit makes only "a cow" (issue 10).
        expected = [("first", "0001"), ("first", "0002"), ("second", "0001")]
        wait_for(lambda: sets() == expected, timeout=300, what="new and edited sets", proc=proc,
                 log=log)  # fmt: skip
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    rows = db_rows(results)
    assert all(r["status"] == "ok" for r in rows)
    cat = next(r for r in rows if r["prompt"] == "a cat")
    assert (cat["id"], cat["image_path"], cat["created_at"]) == (
        first_row["id"], first_row["image_path"], first_row["created_at"]
    )  # fmt: skip
    assert "signal 15: stopping" in log.read_text()
