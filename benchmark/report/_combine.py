"""Two runs as one comparison: the rows of their shared prompts, models told apart by run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from benchmark.records import Generation, RunRecord
from benchmark.report._rows import normalise_run

__all__ = ["combine_runs"]


def _rows(rows: Sequence[Generation | Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [dict(r.as_row() if isinstance(r, Generation) else r) for r in rows]


def combine_runs(
    run_a: RunRecord | Mapping[str, Any],
    rows_a: Sequence[Generation | Mapping[str, Any]],
    run_b: RunRecord | Mapping[str, Any],
    rows_b: Sequence[Generation | Mapping[str, Any]],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ``(run, rows)`` that ``write_reports`` takes to compare run A with run B.

    Only the prompts both runs hold (same prompt set, same text) are kept, so every
    mean, interval and win rate is over the same prompts. A model name both runs
    use becomes ``name@RUN_ID`` in each, so the two versions stand side by side.
    """
    a, b = normalise_run(run_a), normalise_run(run_b)
    if a["id"] == b["id"]:
        raise ValueError(f"compare: both runs are {a['id']}; name two different runs")
    first, second = _rows(rows_a), _rows(rows_b)
    shared = {(r["prompt_set"], r["prompt"]) for r in first} & {
        (r["prompt_set"], r["prompt"]) for r in second
    }
    clash = {str(r["model"]) for r in first} & {str(r["model"]) for r in second}
    clash |= set(a["models"]) & set(b["models"])
    models: list[str] = []
    rows: list[dict[str, Any]] = []
    for run, run_rows in ((a, first), (b, second)):

        def label(model: Any, run: Mapping[str, Any] = run) -> str:
            return f"{model}@{run['id']}" if str(model) in clash else str(model)

        models += [label(m) for m in run["models"]]
        for row in run_rows:
            if (row["prompt_set"], row["prompt"]) in shared:
                rows.append({**row, "model": label(row["model"])})
    sets = list(dict.fromkeys([*a["prompt_sets"], *b["prompt_sets"]]))
    finished = [a.get("finished_at"), b.get("finished_at")]
    combined = {
        "id": f"{a['id']} vs {b['id']}",
        "started_at": min(str(a.get("started_at")), str(b.get("started_at"))),
        "finished_at": None if None in finished else max(str(f) for f in finished),
        "config": f"{a.get('config')} vs {b.get('config')}",
        "prompt_sets": [s for s in sets if any(p == s for p, _ in shared)] or sets,
        "models": list(dict.fromkeys(models)),
        "compared_runs": [a["id"], b["id"]],
        "shared_prompts": len(shared),
    }
    return combined, rows
