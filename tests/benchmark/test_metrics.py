"""The metric registry: what reads it stays free of torch, and everything follows it."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from benchmark.metrics import Metric, get_metric, metric_names, metrics, scorer_names
from benchmark.records import Generation, ItemKey, Measures, prompt_hash, row_columns
from benchmark.schema import SCHEMA

REPO = Path(__file__).resolve().parents[2]


def test_the_config_store_and_report_import_without_torch() -> None:
    code = (
        "import sys\n"
        "import benchmark.config, benchmark.metrics, benchmark.store, benchmark.report\n"
        "import benchmark.cli\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'diffusers') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""


def test_every_metric_is_a_column_and_has_a_registered_scorer() -> None:
    from benchmark.scoring import registered_scorers

    names = metric_names()
    assert names == ("clip_score", "aesthetic_score", "pickscore", "hps_v21")
    assert len({m.short for m in metrics()}) == len(names)
    assert row_columns()[-len(names) :] == names
    assert set(scorer_names()) <= set(registered_scorers())
    assert get_metric("pickscore").scorer == "pickscore"
    with pytest.raises(KeyError, match="no metric 'nope'"):
        get_metric("nope")
    # Long form: the database has no column per metric.
    assert not any(name in SCHEMA for name in names)


def test_the_panel_produces_exactly_what_it_enables(tiny_models: Any) -> None:
    from benchmark.scoring import ScorerConfig, load_scorers

    config = ScorerConfig(
        clip_model=str(tiny_models.clip), aesthetic_head=str(tiny_models.aesthetic)
    )
    panel = load_scorers(config, device="cpu")
    try:
        assert panel.metrics == ("clip_score", "aesthetic_score")
        images = [Image.new("RGB", (32, 32), color) for color in ("red", "blue", "green")]
        prompts = ["a red square", "a blue square", "a green square"]
        batch = panel.score_batch(images, prompts)
        assert [tuple(scores) for scores in batch] == [panel.metrics] * 3
        singles = [panel.score(i, p) for i, p in zip(images, prompts, strict=True)]
        for one, other in zip(batch, singles, strict=True):  # batched: the same numbers
            assert one == pytest.approx(other, rel=1e-5, abs=1e-5)
        for scorer in panel.scorers:  # each one alone gives what the panel gave for it
            alone = scorer.score(images, prompts)
            assert alone == [{k: s[k] for k in scorer.metrics} for s in batch]
    finally:
        panel.close()


# --- a metric added by registering one scorer ------------------------------------------

BRIGHTNESS = Metric("brightness", "bright", "brightness", "mean brightness", 3, True,
                    "brightness", "brighter")  # fmt: skip


class BrightnessScorer:
    """Mean pixel value in [0, 1]: a real scorer with no model, for the registry test."""

    name = "brightness"
    metrics = ("brightness",)

    def __init__(self, shared: Any) -> None:
        self.shared = shared

    def score(
        self, images: Sequence[Image.Image], prompts: Sequence[str]
    ) -> list[dict[str, float]]:
        return [{"brightness": float(np.asarray(i.convert("L")).mean() / 255)} for i in images]

    def close(self) -> None:
        pass


@pytest.fixture
def brightness() -> Iterator[None]:
    from benchmark.scoring import register_scorer, unregister_scorer

    register_scorer("brightness", BrightnessScorer, [BRIGHTNESS])
    try:
        yield
    finally:
        unregister_scorer("brightness")
    assert "brightness" not in metric_names()


def test_a_registered_scorer_shows_up_in_store_json_csv_markdown_and_html(
    brightness: None, tmp_path: Path
) -> None:
    from benchmark.report import write_reports
    from benchmark.scoring import ScorerConfig, load_scorers
    from benchmark.store import ResultsStore

    assert "brightness" in metric_names()
    panel = load_scorers(ScorerConfig(enabled=("brightness",)), device="cpu")
    images = [Image.new("RGB", (8, 8), (v, v, v)) for v in (0, 51, 255)]
    prompts = ["black", "dark grey", "white"]
    scores = panel.score_batch(images, prompts)
    assert [s["brightness"] for s in scores] == pytest.approx([0.0, 0.2, 1.0])
    measures = Measures(64, 64, 2, 0.5, 4.0, None, 0.0, 0, None)
    with ResultsStore(tmp_path / "db.sqlite3") as store:
        run_id, _ = store.start_run(
            config_name="b.toml", config_json={}, prompt_sets=[{"name": "s", "hash": "h"}],
            models=[{"name": "m", "fingerprint": "f"}],
        )  # fmt: skip
        store.remember_prompt_set(
            content_hash="h", name="s", path="s.txt",
            members=[(f"p{i}", prompt_hash(p), None) for i, p in enumerate(prompts)],
        )  # fmt: skip
        for i, (prompt, score) in enumerate(zip(prompts, scores, strict=True)):
            store.record(Generation(
                run_id=run_id, key=ItemKey("s", prompt_hash(prompt), "m", "f", 0),
                prompt_id=f"p{i}", prompt=prompt, category=None, model_source="m",
                status="ok", measures=measures, scores=score,
            ))  # fmt: skip
        run = store.run(run_id)
        assert run is not None
        rows = store.generations(run)
    assert [g.as_row()["brightness"] for g in rows] == pytest.approx([0.0, 0.2, 1.0])
    paths = write_reports(run, rows, results_dir=tmp_path, out_dir=tmp_path / "r")
    document = json.loads(paths["json"].read_text())
    assert document["summary"][0]["bright_mean"] == pytest.approx(0.4)
    assert (
        document["summary"][0]["bright_ci_low"] <= 0.4 <= document["summary"][0]["bright_ci_high"]
    )
    assert document["rank_by"] == "brightness"  # the only metric with scores
    assert "brightness" in document["win_rates"]
    with open(paths["csv"], newline="") as handle:
        assert "brightness" in (csv.DictReader(handle).fieldnames or [])
    markdown = paths["md"].read_text()
    assert "brightness mean" in markdown
    assert "Leaderboard by mean brightness" in markdown
    html = paths["html"].read_text()
    assert "brightness mean" in html
    assert "Mean brightness per image" in html
