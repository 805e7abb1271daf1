"""The scorer pair the runner loads once per worker and calls once per image."""

from __future__ import annotations

import math

import torch
from PIL import Image

from benchmark.scoring._aesthetic import AestheticPredictor, load_aesthetic_predictor
from benchmark.scoring._clip import ClipEmbedder, clip_score
from benchmark.scoring._config import ScorerConfig, ScorerLoadError

__all__ = ["Scorers", "load_scorers"]


class Scorers:
    """CLIP score and LAION aesthetic score for one image and its prompt.

    Built by ``load_scorers``. Not thread-safe (one image at a time, as the runner
    works). Scores are deterministic for a given image, prompt, model and device.
    """

    def __init__(
        self, config: ScorerConfig, clip: ClipEmbedder, aesthetic: AestheticPredictor
    ) -> None:
        self.config = config
        self.clip = clip
        self.aesthetic = aesthetic

    @property
    def device(self) -> torch.device:
        """The device the scorer models run on."""
        return self.clip.device

    @torch.inference_mode()
    def score(self, image: Image.Image, prompt: str) -> dict[str, float]:
        """Return ``{"clip_score": ..., "aesthetic_score": ...}`` for ``image`` and ``prompt``.

        ``clip_score`` is ``100 * max(cos(image, text), 0)`` in [0, 100];
        ``aesthetic_score`` is the LAION predictor's output (about 1 to 10 with the real
        head). Prompts longer than CLIP's context (77 tokens) are truncated, never refused.
        Raises ``TypeError`` for a non-image or non-string argument and ``ValueError``
        when a model produces a non-finite score.
        """
        if not isinstance(image, Image.Image):
            raise TypeError(f"Scorers.score: image must be a PIL image, got {type(image).__name__}")
        if not isinstance(prompt, str):
            raise TypeError(f"Scorers.score: prompt must be a str, got {type(prompt).__name__}")
        image_embedding = self.clip.image_embedding(image)
        text_embedding = self.clip.text_embedding(prompt)
        aesthetic = self.aesthetic(image_embedding.to(self.device)).float().cpu()
        scores = {
            "clip_score": clip_score(image_embedding, text_embedding),
            "aesthetic_score": float(aesthetic),
        }
        for name, value in scores.items():
            if not math.isfinite(value):
                raise ValueError(f"Scorers.score: {name} is {value} (model {self.clip.name!r})")
        return scores

    def close(self) -> None:
        """Drop the models and hand cached GPU memory back (the worker may keep running)."""
        for attribute in ("clip", "aesthetic"):
            self.__dict__.pop(attribute, None)
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.empty_cache()


def load_scorers(config: ScorerConfig, *, device: str | torch.device | None = None) -> Scorers:
    """Load the CLIP model and the aesthetic head named by ``config``.

    ``device`` defaults to ``"cuda"`` when torch sees a GPU, else ``"cpu"``. Models are
    kept in float32 (scores must not move with the dtype). Raises ``ScorerLoadError``
    (a ``ValueError``) naming the model and the reason when either cannot be loaded,
    including a head trained for a different embedding size than the CLIP model's.
    """
    if not isinstance(config, ScorerConfig):
        raise TypeError(f"load_scorers: config must be a ScorerConfig, got {type(config).__name__}")
    chosen = str(device) if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        torch.device(chosen)
    except RuntimeError as exc:
        raise ScorerLoadError(config.clip_model, f"bad device {chosen!r}: {exc}") from exc
    clip = ClipEmbedder(config.clip_model, device=chosen)
    aesthetic = load_aesthetic_predictor(
        config.aesthetic_head,
        config.aesthetic_file,
        expected_dim=clip.projection_dim,
        device=chosen,
    )
    return Scorers(config, clip, aesthetic)
