"""Image scorers for the benchmark: CLIP score, the LAION aesthetic predictor, PickScore, HPS v2.1.

Contract with the runner::

    from benchmark.scoring import ScorerConfig, Scorers, load_scorers

    scorers = load_scorers(ScorerConfig(enabled=PANEL), device="cuda")  # ScorerLoadError
    scorers.score(image, prompt)  # {"clip_score": ..., "aesthetic_score": ..., "pickscore": ...}
    scorers.score_batch(images, prompts)  # one such dict per image, each scorer one pass

Every scorer satisfies ``benchmark.metrics.Scorer`` (a name, its metrics,
``score(images, prompts)`` in batches) and is registered with ``register_scorer``
(with the metrics it adds, when they are new); the panel holds the scorers
``ScorerConfig.enabled`` names. ImageReward is not in the panel: see
``docs/benchmark-scoring-and-reports.md`` for why.

``ScorerConfig`` is frozen; the TOML ``[scorers]`` table maps onto its fields.
Prompts longer than CLIP's 77 tokens are truncated, never refused.
"""

from __future__ import annotations

from benchmark.config import DEFAULT_SCORERS, PANEL, ScorerConfig
from benchmark.errors import ScorerLoadError
from benchmark.scoring._aesthetic import AestheticPredictor, load_aesthetic_predictor
from benchmark.scoring._clip import ClipEmbedder, clip_score
from benchmark.scoring._open_clip import load_open_clip_checkpoint, open_clip_to_transformers
from benchmark.scoring._preference import HpsScorer, PickScorer
from benchmark.scoring._scorers import (
    AestheticScorer,
    ClipScorer,
    Scorers,
    SharedModels,
    load_scorers,
    register_scorer,
    registered_scorers,
    unregister_scorer,
)

__all__ = [
    "DEFAULT_SCORERS",
    "PANEL",
    "AestheticPredictor",
    "AestheticScorer",
    "ClipEmbedder",
    "ClipScorer",
    "HpsScorer",
    "PickScorer",
    "ScorerConfig",
    "ScorerLoadError",
    "Scorers",
    "SharedModels",
    "clip_score",
    "load_aesthetic_predictor",
    "load_open_clip_checkpoint",
    "load_scorers",
    "open_clip_to_transformers",
    "register_scorer",
    "registered_scorers",
    "unregister_scorer",
]
