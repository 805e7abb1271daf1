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

    [scorers]                 # maps onto benchmark.scoring.ScorerConfig
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

import hashlib
import json
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.devices import run_device_settings
from benchmark.errors import ConfigError
from benchmark.metrics import scorer_names
from benchmark.placement import PLACEMENT_CHOICES

if TYPE_CHECKING:
    from imagegen import GenerationRequest

__all__ = ["BenchmarkConfig", "ConfigError", "ModelSpec", "RunSettings", "ScorerSettings"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_DTYPES = ("auto", "float16", "fp16", "bfloat16", "bf16", "float32", "fp32")


@dataclass(frozen=True)
class ModelSpec:
    """One model to benchmark. ``source`` is the hub repo id or the resolved local folder."""

    name: str
    source: str
    steps: int
    guidance: float
    width: int
    height: int
    dtype: str = "auto"
    variant: str | None = None
    negative_prompt: str | None = None
    gated: bool = False
    timeout_s: float | None = None
    placement: str = "auto"  # benchmark.placement: where it runs (not part of the fingerprint)
    # The repo id or the path as written in the TOML: fingerprints use it, so moving
    # the checkout (or mounting it elsewhere in a container) keeps earlier results.
    declared: str = ""

    @property
    def fingerprint(self) -> str:
        """A hash of everything that changes the images: a changed model is a new result."""
        keys = ("steps", "guidance", "width", "height", "dtype", "variant")
        payload = {k: getattr(self, k) for k in keys}
        payload["source"] = self.declared or self.source
        payload["negative_prompt"] = self.negative_prompt or None
        blob = json.dumps(payload, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def request(self, prompt: str, seed: int) -> GenerationRequest:
        """What this model makes of ``prompt`` with ``seed``: its settings, one image."""
        # Imported here: imagegen pulls in torch, which the config need not.
        from imagegen import GenerationRequest

        return GenerationRequest(
            prompt=prompt,
            negative_prompt=self.negative_prompt,
            width=self.width,
            height=self.height,
            steps=self.steps,
            guidance=self.guidance,
            seed=seed,
        )


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


@dataclass(frozen=True)
class RunSettings:
    """The ``[run]`` table."""

    seeds: tuple[int, ...] = (0,)
    device: str = "auto"
    image_timeout_s: float = 600.0
    load_timeout_s: float = 1800.0
    score: bool = True
    devices: tuple[int, ...] | str | None = None  # benchmark.devices; "all" or CUDA indices
    lease_devices: tuple[int, ...] | None = None  # the CPU mode: one worker per lease
    block_checkpoints: bool = True
    isolation: str = "process"
    container_image: str = "gpu-share-benchmark:latest"


@dataclass(frozen=True)
class BenchmarkConfig:
    """A parsed configuration file."""

    path: Path
    run: RunSettings
    scorers: ScorerSettings
    models: tuple[ModelSpec, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy, stored with each run."""
        return {
            "path": str(self.path),
            "run": asdict(self.run),
            "scorers": asdict(self.scorers),
            "models": [asdict(m) for m in self.models],
        }


def _is_path(value: str) -> bool:
    return value.startswith(("./", "../", "/", "~")) or value in (".", "..")


def _resolve(base: Path, value: str) -> str:
    return str((base / Path(value).expanduser()).resolve())


class _Table:
    """Typed access to one TOML table with errors that name the key."""

    def __init__(self, path: Path, where: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: {where} must be a table")
        self.path, self.where, self.data = path, where, data

    def fail(self, key: str, reason: str) -> ConfigError:
        return ConfigError(f"{self.path}: {self.where}.{key}: {reason}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        value = self.data.get(key, default)
        if value is None:
            return None
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            name = (
                kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            )
            raise self.fail(key, f"expected {name}, got {value!r}")
        return value

    def positive(self, key: str, kind: type, default: Any = None) -> Any:
        value = self.get(key, kind, default)
        if value is not None and value <= 0:
            raise self.fail(key, f"must be positive, got {value!r}")
        return value

    def unknown(self, known: set[str]) -> None:
        extra = sorted(set(self.data) - known)
        if extra:
            raise self.fail(extra[0], f"unknown key (known: {', '.join(sorted(known))})")


def _parse_run(path: Path, data: Any) -> RunSettings:
    table = _Table(path, "run", data)
    table.unknown(
        {
            "seeds",
            "images_per_prompt",
            "base_seed",
            "device",
            "image_timeout_s",
            "load_timeout_s",
            "score",
            "devices",
            "lease_devices",
            "block_checkpoints",
            "isolation",
            "container_image",
        }
    )
    seeds = table.get("seeds", list)
    if seeds is not None:
        if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
            raise table.fail("seeds", f"expected a non-empty list of integers, got {seeds!r}")
        if len(set(seeds)) != len(seeds):
            raise table.fail("seeds", f"duplicate seeds in {seeds!r}")
        if "images_per_prompt" in table.data:
            raise table.fail("images_per_prompt", "give either seeds or images_per_prompt")
        seed_tuple = tuple(seeds)
    else:
        count = table.positive("images_per_prompt", int, 1)
        base = table.get("base_seed", int, 0)
        seed_tuple = tuple(range(base, base + count))
    return RunSettings(
        seeds=seed_tuple,
        device=table.get("device", str, "auto"),
        image_timeout_s=table.positive("image_timeout_s", float, 600.0),
        load_timeout_s=table.positive("load_timeout_s", float, 1800.0),
        score=table.get("score", bool, True),
        **run_device_settings(table.data, table.get, table.fail),
    )


_FILE_NAMES = ("aesthetic_file", "hps_file")  # names inside a repo or folder, never resolved


def _parse_scorers(path: Path, data: Any) -> ScorerSettings:
    table = _Table(path, "scorers", data)
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
        if key not in _FILE_NAMES and _is_path(value):
            value = _resolve(path.parent, value)
        values[key] = value
    return ScorerSettings(**values)


def _parse_model(path: Path, index: int, data: Any) -> ModelSpec:
    table = _Table(path, f"models[{index}]", data)
    table.unknown(
        {
            "name",
            "repo",
            "path",
            "steps",
            "guidance",
            "width",
            "height",
            "dtype",
            "variant",
            "negative_prompt",
            "gated",
            "timeout_s",
            "placement",
            "notes",
        }
    )
    name = table.get("name", str)
    if not name or not _NAME_RE.match(name):
        raise table.fail("name", f"need a name of letters, digits, '.', '_' or '-', got {name!r}")
    table.where = f"models[{index}] ({name})"
    repo, local = table.get("repo", str), table.get("path", str)
    if (repo is None) == (local is None):
        raise table.fail("repo", "give exactly one of repo (hub id) or path (local folder)")
    source = repo if repo is not None else _resolve(path.parent, local)
    dtype = table.get("dtype", str, "auto")
    if dtype.lower() not in _DTYPES:
        raise table.fail("dtype", f"{dtype!r} is not one of {', '.join(_DTYPES)}")
    width, height = table.positive("width", int, 512), table.positive("height", int, 512)
    for key, value in (("width", width), ("height", height)):
        if value % 8:
            raise table.fail(key, f"{value} is not a multiple of 8")
    guidance = table.get("guidance", float, 7.5)
    if guidance < 0:
        raise table.fail("guidance", f"must not be negative, got {guidance}")
    return ModelSpec(
        name=name,
        source=source,
        steps=table.positive("steps", int, 30),
        guidance=guidance,
        width=width,
        height=height,
        dtype=dtype,
        variant=table.get("variant", str),
        negative_prompt=table.get("negative_prompt", str) or None,
        gated=table.get("gated", bool, False),
        timeout_s=table.positive("timeout_s", float),
        placement=_placement(table),
        declared=repo if repo is not None else f"path:{local}",
    )


def _placement(table: _Table) -> str:
    value = table.get("placement", str, "auto")
    if value not in PLACEMENT_CHOICES:
        raise table.fail("placement", f"{value!r} is not one of {', '.join(PLACEMENT_CHOICES)}")
    return str(value)


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
    run = _parse_run(path, data.get("run", {}))
    scorers = _parse_scorers(path, data.get("scorers", {}))
    raw_models = data.get("models", [])
    if not isinstance(raw_models, list) or not raw_models:
        raise ConfigError(f"{path}: models: need at least one [[models]] table")
    models = tuple(_parse_model(path, i, m) for i, m in enumerate(raw_models))
    names = [m.name for m in models]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"{path}: models: the name {name!r} is used twice")
    return BenchmarkConfig(path=path, run=run, scorers=scorers, models=models)
