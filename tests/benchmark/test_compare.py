"""``python -m benchmark compare RUN_A RUN_B``: two runs, their shared prompts, one comparison."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmark.cli import main
from benchmark.errors import EXIT_USAGE
from benchmark.records import Generation, ItemKey, Measures, prompt_hash
from benchmark.report import combine_runs
from benchmark.store import DB_NAME, ResultsStore

# Run A: models m1 and m2 on prompts p1-p3; run B: m2 (changed settings) and m3 on p2-p4.
PROMPTS = {"p1": "a red fox", "p2": "a blue car", "p3": "two cats", "p4": "an old man"}
# {run: {model: {prompt id: pickscore}}}, seed 0; clip is pickscore / 10.
SCORES = {
    "A": {"m1": {"p1": 20.0, "p2": 21.0, "p3": 19.0}, "m2": {"p1": 18.0, "p2": 22.0, "p3": 18.0}},
    "B": {"m2": {"p2": 23.0, "p3": 23.0, "p4": 10.0}, "m3": {"p2": 20.0, "p3": 19.0, "p4": 30.0}},
}


def _record_run(store: ResultsStore, name: str, config: str) -> str:
    models = SCORES[name]
    prompts = sorted({p for values in models.values() for p in values})
    set_hash = f"set-{name}"
    run_id, _ = store.start_run(
        config_name=config,
        config_json={},
        prompt_sets=[{"name": "parti", "hash": set_hash}],
        models=[{"name": m, "fingerprint": f"{m}-{name}"} for m in models],
    )
    store.remember_prompt_set(
        content_hash=set_hash, name="parti", path="parti.tsv",
        members=[(p, prompt_hash(PROMPTS[p]), "Animals") for p in prompts],
    )  # fmt: skip
    for model, values in models.items():
        for prompt_id, value in values.items():
            key = ItemKey("parti", prompt_hash(PROMPTS[prompt_id]), model, f"{model}-{name}", 0)
            store.record(Generation(
                run_id=run_id, key=key, prompt_id=prompt_id, prompt=PROMPTS[prompt_id],
                category="Animals", model_source=model, status="ok",
                measures=Measures(64, 64, 2, 0.5 if model == "m1" else 1.0, 4.0, None, 0.0, 0,
                                  None),
                scores={"pickscore": value, "clip_score": value / 10},
            ))  # fmt: skip
    store.finish_run(run_id)
    return run_id


@pytest.fixture
def two_runs(tmp_path: Path) -> tuple[Path, str, str]:
    results = tmp_path / "results"
    results.mkdir()
    with ResultsStore(results / DB_NAME) as store:
        first = _record_run(store, "A", "a.toml")
        second = _record_run(store, "B", "b.toml")
    return results, first, second


def test_compare_writes_the_comparison_of_the_shared_prompts(
    two_runs: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    results, first, second = two_runs
    args = ["compare", first, second, "--results-dir", str(results), "--rank-by", "pickscore"]
    assert main(args) == 0
    out = results / "reports" / f"compare-{first}-vs-{second}"
    assert f"json: {out / 'report.json'}" in capsys.readouterr().out
    document: dict[str, Any] = json.loads((out / "report.json").read_text())
    models = ["m1", f"m2@{first}", f"m2@{second}", "m3"]
    assert document["run"]["models"] == models
    assert document["run"]["compared_runs"] == [first, second]
    assert document["run"]["shared_prompts"] == 2
    rows = document["rows"]
    assert {r["prompt_id"] for r in rows} == {"p2", "p3"}  # p1 and p4 are in one run only
    assert len(rows) == 8
    # The leaderboard over p2 and p3: m2 of run B (23, 23) first, then m1 (21, 19) and
    # m2 of run A (22, 18) tied (in run order), then m3 (20, 19).
    board = [(s["model"], s["mean"]) for s in document["leaderboard"]]
    assert board == [(f"m2@{second}", 23.0), ("m1", 20.0), (f"m2@{first}", 20.0), ("m3", 19.5)]
    assert [s["rank"] for s in document["leaderboard"]] == [1, 2, 2, 4]
    wins = document["win_rates"]["pickscore"]
    # m1 (21, 19) against m3 (20, 19): one win, one tie.
    assert wins["m1"]["m3"] == {"wins": 1, "losses": 0, "ties": 1, "pairs": 2, "rate": 0.75}
    assert wins[f"m2@{second}"][f"m2@{first}"]["rate"] == 1.0
    assert document["rank_by"] == "pickscore"
    assert set(document["categories"]["pickscore"]) == {"category"}
    html = (out / "report.html").read_text()
    assert "Leaderboard by PickScore" in html
    assert "Win rate, PickScore" in html
    assert "PickScore against seconds per image" in html
    assert "| 1 | m2@" in (out / "report.md").read_text()


def test_compare_refuses_unknown_runs_the_same_run_and_unknown_metrics(
    two_runs: tuple[Path, str, str],
) -> None:
    results, first, second = two_runs
    common = ["--results-dir", str(results)]
    assert main(["compare", first, "nope", *common]) == EXIT_USAGE
    assert main(["compare", first, first, *common]) == EXIT_USAGE
    assert main(["compare", first, second, *common, "--rank-by", "typo"]) == EXIT_USAGE
    assert main(["report", "--run", first, *common, "--rank-by", "typo"]) == EXIT_USAGE
    assert main(["compare", first, second, "--results-dir", str(results / "none")]) == EXIT_USAGE
    assert not (results / "reports").exists()  # nothing half-written


def test_combine_runs_keeps_distinct_model_names() -> None:
    run_a = {"id": "A", "started_at": "1", "finished_at": "2", "config": "a", "prompt_sets": ["s"],
             "models": ["x"]}  # fmt: skip
    run_b = {**run_a, "id": "B", "models": ["y"], "finished_at": None}
    row = {"prompt_set": "s", "prompt_id": "1", "prompt": "p", "model": "x", "status": "ok"}
    run, rows = combine_runs(run_a, [row], run_b, [{**row, "model": "y", "prompt_id": "9"}])
    assert run["models"] == ["x", "y"]  # no clash: names kept
    assert run["finished_at"] is None  # one of them still runs
    assert [r["model"] for r in rows] == ["x", "y"]
