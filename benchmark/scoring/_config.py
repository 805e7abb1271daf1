"""Scorer settings and the error raised when a scorer model cannot be loaded."""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.errors import ScorerLoadError

__all__ = ["ScorerConfig", "ScorerLoadError"]


@dataclass(frozen=True)
class ScorerConfig:
    """Which models score the benchmark images.

    The runner's TOML ``[scorers]`` table maps one to one onto these fields.

    Attributes:
        clip_model: Hugging Face hub id or local folder of a transformers ``CLIPModel``
            saved together with its ``CLIPProcessor``. It gives the CLIP score and the
            image embeddings the aesthetic head reads.
        aesthetic_head: where the LAION improved-aesthetic-predictor MLP weights live:
            a hub repo id (``owner/name``, fetched with ``huggingface_hub.hf_hub_download``),
            a local folder holding ``aesthetic_file``, or a local file.
        aesthetic_file: the weights file inside the hub repo or local folder; ignored when
            ``aesthetic_head`` is a file.
    """

    clip_model: str = "openai/clip-vit-large-patch14"
    aesthetic_head: str = "camenduru/improved-aesthetic-predictor"
    aesthetic_file: str = "sac+logos+ava1-l14-linearMSE.pth"

    def __post_init__(self) -> None:
        for name in ("clip_model", "aesthetic_head", "aesthetic_file"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"ScorerConfig.{name} must be a non-empty string, got {value!r}")
