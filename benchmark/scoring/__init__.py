"""Image scorers for the benchmark: CLIP score and the LAION improved aesthetic predictor.

Contract with the runner::

    from benchmark.scoring import ScorerConfig, Scorers, load_scorers

    scorers = load_scorers(ScorerConfig(), device="cuda")   # ScorerLoadError(ValueError)
    scorers.score(image, prompt)  # {"clip_score": float, "aesthetic_score": float}
    scorers.score_batch(images, prompts)  # one such dict per image

Every scorer satisfies ``benchmark.metrics.Scorer`` (a name, its metrics,
``score(images, prompts)`` in batches) and is registered with ``register_scorer``
under the name the metric table (``benchmark.metrics.METRICS``) gives it; the
panel holds every scorer the table names.

``ScorerConfig`` is frozen; the TOML ``[scorers]`` table maps onto its fields.
Prompts longer than CLIP's 77 tokens are truncated, never refused.
"""

from __future__ import annotations

from benchmark.scoring._aesthetic import AestheticPredictor, load_aesthetic_predictor
from benchmark.scoring._clip import ClipEmbedder, clip_score
from benchmark.scoring._config import ScorerConfig, ScorerLoadError
from benchmark.scoring._scorers import (
    AestheticScorer,
    ClipScorer,
    Scorers,
    SharedModels,
    load_scorers,
    register_scorer,
    registered_scorers,
)

__all__ = [
    "AestheticPredictor",
    "AestheticScorer",
    "ClipEmbedder",
    "ClipScorer",
    "ScorerConfig",
    "ScorerLoadError",
    "Scorers",
    "SharedModels",
    "clip_score",
    "load_aesthetic_predictor",
    "load_scorers",
    "register_scorer",
    "registered_scorers",
]
