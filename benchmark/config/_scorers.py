"""The ``[scorers]`` table: which scorers run and the models they load (``ScorerConfig``).

The one type for the scorer settings: the config parses the table into it, and
``benchmark.scoring`` loads the scorers it names (and re-exports it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.config._table import Table, is_path, resolve
from benchmark.metrics import scorer_names

# What runs when a config names no scorers: the two whose models are small.
DEFAULT_SCORERS = ("clip", "aesthetic")
# The whole panel research/benchmark.toml runs.
PANEL = ("clip", "aesthetic", "pickscore", "hps")
_VIT_H = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"


@dataclass(frozen=True)
class ScorerConfig:
    """Which scorers run, and the models they read.

    The runner's TOML ``[scorers]`` table maps one to one onto these fields. Every
    model value is a Hugging Face hub id or a local folder (a file for the two
    single-file weights).

    Attributes:
        enabled: the scorers that run, by registered name (``benchmark.scoring``), in order.
        clip_model: a transformers ``CLIPModel`` saved with its ``CLIPProcessor``: the
            CLIP score, and the image embeddings the aesthetic head reads.
        aesthetic_head / aesthetic_file: the LAION improved-aesthetic-predictor MLP
            weights: a hub repo id (fetched with ``hf_hub_download``), a local folder
            holding ``aesthetic_file``, or a local file.
        pickscore_model / pickscore_processor: PickScore's ``CLIPModel`` and the
            processor it was trained with (the LAION ViT-H-14 one).
        hps_checkpoint / hps_file: where the HPS v2.1 open_clip checkpoint lives (hub
            repo id, folder or file), and its file name in the repo or folder.
        hps_architecture: a ``CLIPConfig`` and ``CLIPProcessor`` of open_clip's
            ViT-H-14 (the LAION repo, converted from open_clip): the architecture the
            checkpoint's weights are loaded into, and its preprocessing.
    """

    enabled: tuple[str, ...] = DEFAULT_SCORERS
    clip_model: str = "openai/clip-vit-large-patch14"
    aesthetic_head: str = "camenduru/improved-aesthetic-predictor"
    aesthetic_file: str = "sac+logos+ava1-l14-linearMSE.pth"
    pickscore_model: str = "yuvalkirstain/PickScore_v1"
    pickscore_processor: str = _VIT_H
    hps_checkpoint: str = "xswu/HPSv2"
    hps_file: str = "HPS_v2.1_compressed.pt"
    hps_architecture: str = _VIT_H

    def __post_init__(self) -> None:
        enabled = self.enabled
        if isinstance(enabled, str) or not isinstance(enabled, Sequence):
            raise ValueError(f"ScorerConfig.enabled must be a list of names, got {enabled!r}")
        if not enabled or not all(isinstance(n, str) and n.strip() for n in enabled):
            raise ValueError(f"ScorerConfig.enabled must name at least one scorer: {enabled!r}")
        if len(set(enabled)) != len(enabled):
            raise ValueError(f"ScorerConfig.enabled names a scorer twice: {list(enabled)}")
        object.__setattr__(self, "enabled", tuple(enabled))
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name != "enabled" and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"ScorerConfig.{name} must be a non-empty string, got {value!r}")


_FILE_NAMES = ("aesthetic_file", "hps_file")  # names inside a repo or folder, never resolved


def parse_scorers(path: Path, data: Any) -> ScorerConfig:
    table = Table(path, "scorers", data)
    keys = [k for k in ScorerConfig.__dataclass_fields__ if k != "enabled"]
    table.unknown({"enabled", *keys})
    defaults = ScorerConfig()
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
    return ScorerConfig(**values)
