"""The scorers, their registry, and the panel the runner loads once per worker.

Each scorer satisfies :class:`benchmark.metrics.Scorer` and produces the metrics
the registry (``benchmark.metrics``) says it does. A scorer is registered with
:func:`register_scorer`, together with its metrics when they are new;
:func:`load_scorers` builds the scorers a config enables into one :class:`Scorers`
panel. Scorers that read CLIP embeddings share one CLIP model (and one image
embedding per image of the last batch) through :class:`SharedModels`.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Sequence

import torch
from PIL import Image

from benchmark.config import ScorerConfig
from benchmark.errors import ScorerLoadError
from benchmark.metrics import Metric, Scorer, metrics, register_metric, unregister_metric
from benchmark.scoring._aesthetic import AestheticPredictor, load_aesthetic_predictor
from benchmark.scoring._clip import ClipEmbedder, clip_score

__all__ = [
    "AestheticScorer",
    "ClipScorer",
    "Scorers",
    "SharedModels",
    "check_batch",
    "load_scorers",
    "register_scorer",
    "registered_scorers",
    "unregister_scorer",
]


class SharedModels:
    """What several scorers may share: the config, the device, one CLIP model."""

    def __init__(self, config: ScorerConfig, device: str) -> None:
        self.config = config
        self.device = device
        self._clip: ClipEmbedder | None = None
        self._last: tuple[list[weakref.ref[Image.Image]], torch.Tensor] | None = None

    @property
    def clip(self) -> ClipEmbedder:
        """The CLIP model of ``config.clip_model``, loaded on first use."""
        if self._clip is None:
            self._clip = ClipEmbedder(self.config.clip_model, device=self.device)
        return self._clip

    def image_embeddings(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """CLIP's embeddings of ``images`` (N, D), computed once for all the scorers that ask."""
        # The last batch, held by weak references: images that are gone can never match.
        last = self._last
        if last is not None and [r() for r in last[0]] == list(images):
            return last[1]
        embeddings = self.clip.image_embeddings(images)
        self._last = ([weakref.ref(image) for image in images], embeddings)
        return embeddings


ScorerFactory = Callable[[SharedModels], Scorer]
ScoreList = list[dict[str, float]]
_REGISTRY: dict[str, ScorerFactory] = {}


def register_scorer(name: str, factory: ScorerFactory, metrics: Sequence[Metric] = ()) -> None:
    """Make ``factory`` the scorer called ``name``, and register the ``metrics`` it adds.

    The panel's own metrics are registered in ``benchmark.metrics`` (so the report
    knows them without importing torch); a new scorer passes its new ones here,
    and from then on they are columns of the store, the rows and every report.
    """
    for metric in metrics:
        if metric.scorer != name:
            raise ValueError(f"register_scorer: metric {metric.name!r} names scorer "
                             f"{metric.scorer!r}, not {name!r}")  # fmt: skip
    for metric in metrics:
        register_metric(metric)
    _REGISTRY[name] = factory


def unregister_scorer(name: str) -> None:
    """Forget the scorer ``name`` and its metrics (a test that registered one cleans up)."""
    _REGISTRY.pop(name, None)
    for metric in metrics():
        if metric.scorer == name:
            unregister_metric(metric.name)


def registered_scorers() -> tuple[str, ...]:
    """The names of the registered scorers."""
    return tuple(_REGISTRY)


def check_batch(images: Sequence[Image.Image], prompts: Sequence[str], who: str) -> None:
    """Raise ``TypeError``/``ValueError`` unless ``images`` and ``prompts`` pair up."""
    for image in images:
        if not isinstance(image, Image.Image):
            raise TypeError(f"{who}: image must be a PIL image, got {type(image).__name__}")
    for prompt in prompts:
        if not isinstance(prompt, str):
            raise TypeError(f"{who}: prompt must be a str, got {type(prompt).__name__}")
    if len(images) != len(prompts):
        raise ValueError(f"{who}: {len(images)} images but {len(prompts)} prompts")


class ClipScorer:
    """CLIP score: ``100 * max(cos(image, text), 0)`` in [0, 100]; long prompts truncated."""

    name = "clip"
    metrics = ("clip_score",)

    def __init__(self, shared: SharedModels) -> None:
        self.shared = shared

    @torch.inference_mode()
    def score(
        self, images: Sequence[Image.Image], prompts: Sequence[str]
    ) -> list[dict[str, float]]:
        """One ``{"clip_score": ...}`` per image and its prompt, the batch in one pass."""
        check_batch(images, prompts, "ClipScorer.score")
        if not images:
            return []
        image_embeddings = self.shared.image_embeddings(images)
        text_embeddings = self.shared.clip.text_embeddings(prompts)
        return [
            {"clip_score": clip_score(i, t)}
            for i, t in zip(image_embeddings, text_embeddings, strict=True)
        ]

    def close(self) -> None:
        """Nothing of its own: the shared CLIP model goes with the panel."""


class AestheticScorer:
    """The LAION improved aesthetic predictor on CLIP's image embedding (about 1 to 10)."""

    name = "aesthetic"
    metrics = ("aesthetic_score",)

    def __init__(self, shared: SharedModels) -> None:
        self.shared = shared
        config = shared.config
        self.head: AestheticPredictor | None = load_aesthetic_predictor(
            config.aesthetic_head,
            config.aesthetic_file,
            expected_dim=shared.clip.projection_dim,
            device=shared.device,
        )

    @torch.inference_mode()
    def score(
        self, images: Sequence[Image.Image], prompts: Sequence[str]
    ) -> list[dict[str, float]]:
        """One ``{"aesthetic_score": ...}`` per image (the prompt plays no part)."""
        check_batch(images, prompts, "AestheticScorer.score")
        assert self.head is not None, "AestheticScorer.score after close()"
        if not images:
            return []
        embeddings = self.shared.image_embeddings(images).to(self.shared.clip.device)
        return [{"aesthetic_score": float(v)} for v in self.head(embeddings).float().cpu()]

    def close(self) -> None:
        """Drop the head."""
        self.head = None


register_scorer(ClipScorer.name, ClipScorer)
register_scorer(AestheticScorer.name, AestheticScorer)


class Scorers:
    """The panel: the scorers a config enables, scoring one image or a batch.

    Built by ``load_scorers``. Not thread-safe (one image at a time, as the runner
    works). Scores are deterministic for a given image, prompt, model and device.
    """

    def __init__(self, config: ScorerConfig, shared: SharedModels, scorers: list[Scorer]) -> None:
        self.config = config
        self.shared = shared
        self.scorers = scorers

    @property
    def clip(self) -> ClipEmbedder:
        """The CLIP model the CLIP and aesthetic scorers share (loaded on first use)."""
        return self.shared.clip

    @property
    def device(self) -> torch.device:
        """The device the scorer models run on."""
        return torch.device(self.shared.device)

    @property
    def metrics(self) -> tuple[str, ...]:
        """Every metric the panel produces, scorer by scorer."""
        return tuple(name for scorer in self.scorers for name in scorer.metrics)

    def score(self, image: Image.Image, prompt: str) -> dict[str, float]:
        """Every metric for ``image`` and its ``prompt``: ``{"clip_score": ..., ...}``.

        Raises ``TypeError`` for a non-image or non-string argument and
        ``ValueError`` when a model produces a non-finite score.
        """
        return self.score_batch([image], [prompt])[0]

    def score_batch(
        self, images: Sequence[Image.Image], prompts: Sequence[str]
    ) -> list[dict[str, float]]:
        """:meth:`score` for many images at once, in order (each scorer one pass)."""
        check_batch(images, prompts, "Scorers.score")
        merged: list[dict[str, float]] = [{} for _ in images]
        for scorer in self.scorers:
            for out, scores in zip(merged, scorer.score(images, prompts), strict=True):
                for name, value in scores.items():
                    if not math.isfinite(value):
                        raise ValueError(f"Scorers.score: {name} is {value} (scorer {scorer.name})")
                out.update(scores)
        return merged

    def close(self) -> None:
        """Drop the models and hand cached GPU memory back (the worker may keep running)."""
        for scorer in self.scorers:
            scorer.close()
        self.shared._clip = None
        self.shared._last = None
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.empty_cache()


def load_scorers(config: ScorerConfig, *, device: str | torch.device | None = None) -> Scorers:
    """Load the scorers ``config.enabled`` names, in order, with the models it names.

    ``device`` defaults to ``"cuda"`` when torch sees a GPU, else ``"cpu"``. Models are
    kept in float32 (scores must not move with the dtype). Raises ``ScorerLoadError``
    (a ``ValueError``) naming the model and the reason when one cannot be loaded,
    including a head trained for a different embedding size than the CLIP model's.
    """
    if not isinstance(config, ScorerConfig):
        raise TypeError(f"load_scorers: config must be a ScorerConfig, got {type(config).__name__}")
    chosen = str(device) if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        torch.device(chosen)
    except RuntimeError as exc:
        raise ScorerLoadError(config.clip_model, f"bad device {chosen!r}: {exc}") from exc
    shared = SharedModels(config, chosen)
    unknown = [name for name in config.enabled if name not in _REGISTRY]
    if unknown:
        raise ScorerLoadError(unknown[0], f"no scorer registered (known: {', '.join(_REGISTRY)})")
    if "clip" in config.enabled or "aesthetic" in config.enabled:
        shared.clip  # noqa: B018 - load CLIP first: its errors name the CLIP model
    scorers: list[Scorer] = []
    for name in config.enabled:
        scorer = _REGISTRY[name](shared)
        expected = tuple(m.name for m in metrics() if m.scorer == name)
        if tuple(scorer.metrics) != expected:
            raise ScorerLoadError(name, f"produces {scorer.metrics}, the table says {expected}")
        scorers.append(scorer)
    return Scorers(config, shared, scorers)
