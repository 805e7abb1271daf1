"""The human-preference scorers: PickScore and HPS v2.1.

Both are CLIP models fine-tuned on people's choices between images for one
prompt, and both score an image and its prompt by how close their embeddings lie:

- PickScore (Kirstain et al. 2023, Pick-a-Pic): ``exp(logit_scale) * cos(image, text)``
  with ``yuvalkirstain/PickScore_v1`` and the LAION ViT-H-14 processor, as its
  model card computes it;
- HPS v2.1 (Wu et al. 2023, HPD v2): ``100 * cos(image, text)`` with open_clip's
  ViT-H-14 holding the HPS v2.1 checkpoint (``hpsv2.score`` returns the cosine;
  the HPS v2 benchmark tables print it times 100).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image

from benchmark.scoring._clip import ClipEmbedder, cosine_rows
from benchmark.scoring._open_clip import load_open_clip_checkpoint
from benchmark.scoring._scorers import SharedModels, check_batch, register_scorer

__all__ = ["HpsScorer", "PickScorer"]


class PickScorer:
    """PickScore: about 18 to 24 for ordinary images, up to ``exp(logit_scale)`` (100)."""

    name = "pickscore"
    metrics = ("pickscore",)

    def __init__(self, shared: SharedModels) -> None:
        config = shared.config
        self.model: ClipEmbedder | None = ClipEmbedder(
            config.pickscore_model, processor=config.pickscore_processor, device=shared.device
        )

    @torch.inference_mode()
    def score(
        self, images: Sequence[Image.Image], prompts: Sequence[str]
    ) -> list[dict[str, float]]:
        """One ``{"pickscore": ...}`` per image and its prompt, the batch in one pass."""
        check_batch(images, prompts, "PickScorer.score")
        assert self.model is not None, "PickScorer.score after close()"
        if not images:
            return []
        cosine = cosine_rows(
            self.model.image_embeddings(images), self.model.text_embeddings(prompts)
        )
        scale = self.model.logit_scale
        return [{"pickscore": float(scale * c)} for c in cosine]

    def close(self) -> None:
        """Drop the model."""
        self.model = None


class HpsScorer:
    """HPS v2.1: ``100 * cos``, in [-100, 100]; about 25 to 35 for ordinary images."""

    name = "hps"
    metrics = ("hps_v21",)

    def __init__(self, shared: SharedModels) -> None:
        config = shared.config
        model = load_open_clip_checkpoint(
            config.hps_architecture, config.hps_checkpoint, config.hps_file
        )
        self.model: ClipEmbedder | None = ClipEmbedder(
            config.hps_checkpoint,
            processor=config.hps_architecture,
            model=model,
            device=shared.device,
        )

    @torch.inference_mode()
    def score(
        self, images: Sequence[Image.Image], prompts: Sequence[str]
    ) -> list[dict[str, float]]:
        """One ``{"hps_v21": ...}`` per image and its prompt, the batch in one pass."""
        check_batch(images, prompts, "HpsScorer.score")
        assert self.model is not None, "HpsScorer.score after close()"
        if not images:
            return []
        cosine = cosine_rows(
            self.model.image_embeddings(images), self.model.text_embeddings(prompts)
        )
        return [{"hps_v21": float(100.0 * c)} for c in cosine]

    def close(self) -> None:
        """Drop the model."""
        self.model = None


register_scorer(PickScorer.name, PickScorer)
register_scorer(HpsScorer.name, HpsScorer)
