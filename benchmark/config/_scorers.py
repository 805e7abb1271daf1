"""The ``[scorers]`` table: which scorers run and the models they load."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.config._table import Table, is_path, resolve
from benchmark.metrics import scorer_names

_VIT_H = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"


@dataclass(frozen=True)
class ScorerSettings:
    """The ``[scorers]`` table; mirrors ``benchmark.scoring.ScorerConfig`` field for field.

    ``enabled`` lists the scorers that run (``benchmark.metrics.scorer_names()``);
    the other fields name their models (see ``ScorerConfig``).
    """

    enabled: tuple[str, ...] = ("clip", "aesthetic")
    clip_model: str = "openai/clip-vit-large-patch14"
    aesthetic_head: str = "camenduru/improved-aesthetic-predictor"
    aesthetic_file: str = "sac+logos+ava1-l14-linearMSE.pth"
    pickscore_model: str = "yuvalkirstain/PickScore_v1"
    pickscore_processor: str = _VIT_H
    hps_checkpoint: str = "xswu/HPSv2"
    hps_file: str = "HPS_v2.1_compressed.pt"
    hps_architecture: str = _VIT_H


_FILE_NAMES = ("aesthetic_file", "hps_file")  # names inside a repo or folder, never resolved


def parse_scorers(path: Path, data: Any) -> ScorerSettings:
    table = Table(path, "scorers", data)
    keys = [k for k in ScorerSettings.__dataclass_fields__ if k != "enabled"]
    table.unknown({"enabled", *keys})
    defaults = ScorerSettings()
    enabled = table.get("enabled", list, list(defaults.enabled))
    known = scorer_names()
    if not enabled or not all(isinstance(name, str) for name in enabled):
        raise table.fail("enabled", f"expected a non-empty list of scorer names, got {enabled!r}")
    for name in enabled:
        if name not in known:
            raise table.fail("enabled", f"unknown scorer {name!r} (known: {', '.join(known)})")
    if len(set(enabled)) != len(enabled):
        raise table.fail("enabled", f"a scorer is named twice in {enabled!r}")
    values: dict[str, Any] = {"enabled": tuple(enabled)}
    for key in keys:
        value = table.get(key, str, getattr(defaults, key))
        if not value.strip():
            raise table.fail(key, "must not be empty")
        if key not in _FILE_NAMES and is_path(value):
            value = resolve(path.parent, value)
        values[key] = value
    return ScorerSettings(**values)
