"""CLIP embeddings and the CLIP score (Hessel et al. 2021, as computed by torchmetrics)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image

from benchmark.errors import ScorerLoadError

__all__ = ["ClipEmbedder", "clip_score", "cosine_rows"]


def clip_score(image_embedding: torch.Tensor, text_embedding: torch.Tensor) -> float:
    """Return ``100 * max(cos(image_embedding, text_embedding), 0)``.

    This is the CLIP score of Hessel et al. (CLIPScore with w = 100), the same number
    ``torchmetrics.multimodal.CLIPScore`` reports for one image-caption pair. Both inputs
    are 1-D projected embeddings (any scale: they are L2-normalised here). The result lies
    in [0, 100]; typical values for matching pairs with ViT-L/14 are 20 to 35.
    """
    if image_embedding.ndim != 1 or text_embedding.ndim != 1:
        raise ValueError(
            "clip_score expects 1-D embeddings, got shapes "
            f"{tuple(image_embedding.shape)} and {tuple(text_embedding.shape)}"
        )
    if image_embedding.shape != text_embedding.shape:
        raise ValueError(
            "clip_score: image and text embeddings differ in size: "
            f"{image_embedding.shape[0]} vs {text_embedding.shape[0]}"
        )
    cosine = torch.nn.functional.cosine_similarity(
        image_embedding.float(), text_embedding.float(), dim=0
    )
    return float(100.0 * torch.clamp(cosine, min=0.0))


class ClipEmbedder:
    """A transformers ``CLIPModel`` and its ``CLIPProcessor``, in eval mode on one device.

    ``name`` is the model (hub id or folder); ``processor`` the processor's, when
    the model was trained with another one (PickScore reads the LAION ViT-H-14
    processor); ``model`` a ``CLIPModel`` built already (HPS v2.1, converted from
    open_clip), which is then moved to ``device`` as it is. Embeddings are the
    projected features (``get_image_features`` / ``get_text_features``), not
    normalised. Text longer than the model's position table (77 tokens for CLIP) is
    truncated there, as torchmetrics does. Batches go through in one forward pass.
    """

    def __init__(
        self,
        name: str,
        *,
        device: str | torch.device,
        processor: str | None = None,
        model: Any = None,
    ) -> None:
        # Imported here so that importing benchmark.scoring stays cheap for the report path.
        from transformers import CLIPModel, CLIPProcessor

        self.name = name
        self.device = torch.device(device)
        processor_name = processor or name
        try:
            self.processor: Any = CLIPProcessor.from_pretrained(processor_name)
        except Exception as exc:  # transformers raises OSError, ValueError, KeyError, ...
            raise ScorerLoadError(processor_name, f"{type(exc).__name__}: {exc}") from exc
        if model is None:
            try:
                model = CLIPModel.from_pretrained(name)
            except Exception as exc:
                raise ScorerLoadError(name, f"{type(exc).__name__}: {exc}") from exc
        try:
            self.model = model.to(self.device).eval()
        except (RuntimeError, AssertionError) as exc:  # no such device, out of memory
            raise ScorerLoadError(name, f"cannot move it to {device!r}: {exc}") from exc
        self.max_tokens = int(self.model.config.text_config.max_position_embeddings)
        self.projection_dim = int(self.model.config.projection_dim)

    @property
    def logit_scale(self) -> float:
        """``exp(logit_scale)``: the temperature CLIP's contrastive loss learned (at most 100)."""
        return float(self.model.logit_scale.detach().exp())

    @torch.inference_mode()
    def image_embedding(self, image: Image.Image) -> torch.Tensor:
        """Return the projected image embedding (1-D, float32, on CPU)."""
        return self.image_embeddings([image])[0]

    @torch.inference_mode()
    def text_embedding(self, text: str) -> torch.Tensor:
        """Return the projected text embedding (1-D, float32, on CPU), truncating long text."""
        return self.text_embeddings([text])[0]

    @torch.inference_mode()
    def image_embeddings(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """The projected embeddings of ``images``, shape (N, projection_dim), float32, CPU."""
        # CLIP's processor expects three channels; PNGs may come as RGBA, L or P.
        inputs = self.processor(images=[i.convert("RGB") for i in images], return_tensors="pt")
        pixels = inputs["pixel_values"].to(self.device, dtype=self.model.dtype)
        output = self.model.get_image_features(pixel_values=pixels)
        return _features(output).float().cpu()

    @torch.inference_mode()
    def text_embeddings(self, texts: Sequence[str]) -> torch.Tensor:
        """The projected embeddings of ``texts``, shape (N, projection_dim); long text truncated."""
        inputs = self.processor(
            text=list(texts),
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=self.max_tokens,
        )
        output = self.model.get_text_features(
            input_ids=inputs["input_ids"].to(self.device),
            attention_mask=inputs["attention_mask"].to(self.device),
        )
        return _features(output).float().cpu()

    def close(self) -> None:
        """Drop the model (the caller empties the CUDA cache)."""
        self.model = None


def cosine_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise cosine similarity of two (N, D) embedding batches: shape (N,)."""
    return torch.nn.functional.cosine_similarity(a.float(), b.float(), dim=-1)


def _features(output: Any) -> torch.Tensor:
    # transformers 5 returns a model output whose pooler_output holds the projected
    # features; transformers 4 returned the tensor itself.
    if isinstance(output, torch.Tensor):
        return output
    features = output.pooler_output
    assert isinstance(features, torch.Tensor)
    return features
