"""What is left to make of one model, and recording what was made.

What is left is worked out from the results store on every start (so a killed
run is finished by starting it again): an item is done when its row says ok and
its image is on disk, or when this very run already recorded it as failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from benchmark.config import ModelSpec
from benchmark.prompts import Prompt, PromptSet
from benchmark.records import Generation, ItemKey, Measures
from benchmark.results import image_relpath
from benchmark.store import ResultsStore

__all__ = ["Item", "plan_model", "record_item"]


@dataclass(frozen=True)
class Item:
    """One image still to make: the prompt as its set has it, under its result key."""

    pset: PromptSet
    prompt: Prompt
    key: ItemKey
    image_rel: str


def plan_model(
    store: ResultsStore,
    run_id: str,
    results_dir: Path,
    sets: list[PromptSet],
    model: ModelSpec,
    seeds: tuple[int, ...],
) -> tuple[list[Item], int]:
    """(items still to do, items already done) for one model."""
    pending: list[Item] = []
    done = 0
    for pset in sets:
        known = store.done_items(pset.name, model.name, model.fingerprint)
        for prompt in pset.prompts:
            for seed in seeds:
                key = ItemKey(pset.name, prompt.content_hash, model.name, model.fingerprint, seed)
                have = known.get(key)
                if have is not None and (
                    (
                        have.status == "ok"
                        and have.image_path is not None
                        and (results_dir / have.image_path).is_file()
                    )
                    # A failure is retried by the next run, not by a resumed one:
                    # a model that hangs must not be retried forever.
                    or (have.status == "failed" and have.run_id == run_id)
                ):
                    done += 1
                    continue
                rel = image_relpath(pset, model, prompt, seed)
                pending.append(Item(pset, prompt, key, rel))
    return pending, done


def record_item(
    store: ResultsStore,
    run_id: str,
    item: Item,
    model: ModelSpec,
    *,
    error: str | None = None,
    measures: Measures | None = None,
    scores: Mapping[str, float] | None = None,
) -> None:
    store.record(
        Generation(
            run_id=run_id,
            key=item.key,
            prompt_id=item.prompt.id,
            prompt=item.prompt.text,
            category=item.prompt.category,
            model_source=model.source,
            status="failed" if error else "ok",
            error=error,
            image_path=None if error else item.image_rel,
            measures=measures,
            scores=scores,
        )
    )
