"""prefetch: what the enabled scorers need, fetched through huggingface_hub (offline here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.config import load_config
from benchmark.prefetch import prefetch


def _config(tmp_path: Path, scorers: str) -> Path:
    (tmp_path / "model").mkdir()
    path = tmp_path / "b.toml"
    path.write_text(f'[scorers]\n{scorers}\n\n[[models]]\nname = "m"\npath = "model"\n')
    return path


def test_every_enabled_scorer_is_fetched_once_per_repo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the hub is out of reach: each fetch fails
    config = load_config(_config(tmp_path, 'enabled = ["clip", "aesthetic", "pickscore", "hps"]'))
    failures = prefetch(config)
    labels = [f.split(":", 1)[0] for f in failures]
    # PickScore's processor and HPS's architecture are one repo: fetched once.
    assert labels == [
        "scorer [1/5] CLIP openai/clip-vit-large-patch14",
        "scorer [2/5] aesthetic head camenduru/improved-aesthetic-predictor",
        "scorer [3/5] PickScore yuvalkirstain/PickScore_v1",
        "scorer [4/5] processor laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
        "scorer [5/5] HPS xswu/HPSv2/HPS_v2.1_compressed.pt",
    ]


def test_only_the_enabled_and_non_local_scorers_are_fetched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "hps").mkdir()
    config = load_config(_config(tmp_path, 'enabled = ["hps"]\nhps_checkpoint = "./hps"'))
    failures = prefetch(config)
    assert [f.split(":", 1)[0] for f in failures] == [
        "scorer [1/1] architecture laion/CLIP-ViT-H-14-laion2B-s32B-b79K"
    ]
