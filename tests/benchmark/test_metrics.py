"""The one metric table: what reads it stays free of torch, and everything follows it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmark.metrics import METRICS, metric_names
from benchmark.records import ROW_COLUMNS, SCORE_COLUMNS
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
    assert len(set(names)) == len(names)
    assert len({m.short for m in METRICS}) == len(METRICS)
    assert names == SCORE_COLUMNS
    assert ROW_COLUMNS[-len(names) :] == names
    assert {m.scorer for m in METRICS} <= set(registered_scorers())
    # Long form: the database has no column per metric.
    assert not any(name in SCHEMA for name in names)


def test_the_panel_produces_exactly_the_table(tiny_models: Any) -> None:
    from PIL import Image

    from benchmark.scoring import ScorerConfig, load_scorers

    config = ScorerConfig(
        clip_model=str(tiny_models.clip), aesthetic_head=str(tiny_models.aesthetic)
    )
    panel = load_scorers(config, device="cpu")
    try:
        assert panel.metrics == metric_names()
        images = [Image.new("RGB", (32, 32), color) for color in ("red", "blue", "green")]
        prompts = ["a red square", "a blue square", "a green square"]
        batch = panel.score_batch(images, prompts)
        assert [tuple(scores) for scores in batch] == [metric_names()] * 3
        assert batch == [panel.score(i, p) for i, p in zip(images, prompts, strict=True)]
        for scorer in panel.scorers:  # each one alone gives what the panel gave for it
            alone = scorer.score(images, prompts)
            assert alone == [{k: s[k] for k in scorer.metrics} for s in batch]
    finally:
        panel.close()
