"""The benchmark configuration: a TOML file naming the models, the scorers and the run.

::

    [run]
    seeds = [0, 1]            # or: images_per_prompt = 2 and base_seed = 0
    device = "auto"           # "auto", "cuda", "cuda:1", "cpu"
    image_timeout_s = 600     # working time one image may take (lease waits excluded)
    load_timeout_s = 1800     # time a worker may take to load its model
    score = true
    devices = [0, 1]          # optional: one worker per CUDA device ("all": every one)
    lease_devices = [0, 1]    # optional, with device = "cpu": one CPU worker per lease
    block_checkpoints = true  # yield the lease inside a step too (before each block)
    isolation = "process"     # a worker process per model, or "container": a container each
    container_image = "gpu-share-benchmark:latest"   # with isolation = "container"

    [scorers]                 # parsed into ScorerConfig
    enabled = ["clip", "aesthetic", "pickscore", "hps"]   # default: clip, aesthetic
    clip_model = "openai/clip-vit-large-patch14"
    aesthetic_head = "camenduru/improved-aesthetic-predictor"
    aesthetic_file = "sac+logos+ava1-l14-linearMSE.pth"
    pickscore_model = "yuvalkirstain/PickScore_v1"
    pickscore_processor = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"
    hps_checkpoint = "xswu/HPSv2"
    hps_file = "HPS_v2.1_compressed.pt"
    hps_architecture = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"

    [[models]]
    name = "sdxl-turbo"
    repo = "stabilityai/sdxl-turbo"   # a hub repo id ... or path = "models/tiny/tiny-sd"
    steps = 4
    guidance = 0.0
    width = 512
    height = 512
    dtype = "float16"
    variant = "fp16"          # optional: the weight files' variant
    gated = false             # true: the repo needs HF_TOKEN with its licence accepted
    negative_prompt = ""      # optional
    timeout_s = 120           # optional: overrides run.image_timeout_s for this model
    placement = "auto"        # or "gpu", "model_offload", "sequential_offload"

Relative paths (``path`` of a model, and scorer values starting with ``./``,
``../``, ``/`` or ``~``) resolve against the TOML file's folder, so a config
works wherever the repository is checked out. Every error is a
:class:`ConfigError` naming the file and the key at fault.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmark.config._models import ModelSpec, parse_model
from benchmark.config._run import RunSettings, parse_run
from benchmark.config._scorers import DEFAULT_SCORERS, PANEL, ScorerConfig, parse_scorers
from benchmark.errors import ConfigError

__all__ = [
    "DEFAULT_SCORERS",
    "PANEL",
    "BenchmarkConfig",
    "ConfigError",
    "ModelSpec",
    "RunSettings",
    "ScorerConfig",
    "load_config",
]


@dataclass(frozen=True)
class BenchmarkConfig:
    """A parsed configuration file."""

    path: Path
    run: RunSettings
    scorers: ScorerConfig
    models: tuple[ModelSpec, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy, stored with each run."""
        return {
            "path": str(self.path),
            "run": asdict(self.run),
            "scorers": asdict(self.scorers),
            "models": [asdict(m) for m in self.models],
        }


def load_config(path: Path) -> BenchmarkConfig:
    """Parse the benchmark TOML at ``path``. Raises :class:`ConfigError` on any problem."""
    path = Path(path).expanduser().resolve()
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: bad TOML: {exc}") from exc
    extra = sorted(set(data) - {"run", "scorers", "models"})
    if extra:
        raise ConfigError(f"{path}: unknown table {extra[0]!r} (known: run, scorers, models)")
    run = parse_run(path, data.get("run", {}))
    scorers = parse_scorers(path, data.get("scorers", {}))
    raw_models = data.get("models", [])
    if not isinstance(raw_models, list) or not raw_models:
        raise ConfigError(f"{path}: models: need at least one [[models]] table")
    models = tuple(parse_model(path, i, m) for i, m in enumerate(raw_models))
    names = [m.name for m in models]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"{path}: models: the name {name!r} is used twice")
    return BenchmarkConfig(path=path, run=run, scorers=scorers, models=models)
