"""The tiny stand-ins for the preference scorers' models (see :mod:`imagegen._tiny`).

PickScore and HPS v2.1 are both ViT-H-14 CLIPs read with the LAION ViT-H-14
processor; these are the same architecture in miniature, built from configs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import (
    CLIPConfig,
    CLIPImageProcessor,
    CLIPModel,
    CLIPProcessor,
    CLIPTextConfig,
    CLIPTokenizer,
    CLIPVisionConfig,
)

__all__ = ["HPS_FILE", "build_hps", "build_pickscore", "build_vit_h"]

HPS_FILE = "HPS_v2.1_compressed.pt"


def _vit_h_config(text_config: CLIPTextConfig) -> CLIPConfig:
    # ViT-H-14's shape in miniature: separate text and vision widths, GELU, 14-pixel
    # patches, projection into a shared space; eos pooling as the LAION config has it.
    text = text_config.to_dict()
    text.update(hidden_size=24, intermediate_size=48, num_attention_heads=4, hidden_act="gelu",
                projection_dim=16)  # fmt: skip
    vision = CLIPVisionConfig(
        hidden_size=40,
        intermediate_size=80,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=28,
        patch_size=14,
        hidden_act="gelu",
        projection_dim=16,
    ).to_dict()
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)


def build_vit_h(out: Path, tokenizer: CLIPTokenizer, text_config: CLIPTextConfig) -> CLIPConfig:
    """The stand-in for the LAION ViT-H-14 repo: its config and processor (no weights)."""
    config = _vit_h_config(text_config)
    config.save_pretrained(out)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 28}, crop_size=28, resample=3)
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(out)
    return config


def build_pickscore(out: Path, config: CLIPConfig) -> None:
    """The stand-in for PickScore_v1: a ``CLIPModel`` of the ViT-H-14-shaped config."""
    CLIPModel(config).save_pretrained(out)


def _open_clip_block(prefix: str, width: int, mlp: int) -> dict[str, torch.Tensor]:
    def normal(*shape: int) -> torch.Tensor:
        return torch.randn(*shape) * 0.02

    return {
        f"{prefix}ln_1.weight": torch.ones(width), f"{prefix}ln_1.bias": torch.zeros(width),
        f"{prefix}attn.in_proj_weight": normal(3 * width, width),
        f"{prefix}attn.in_proj_bias": normal(3 * width),
        f"{prefix}attn.out_proj.weight": normal(width, width),
        f"{prefix}attn.out_proj.bias": normal(width),
        f"{prefix}ln_2.weight": torch.ones(width), f"{prefix}ln_2.bias": torch.zeros(width),
        f"{prefix}mlp.c_fc.weight": normal(mlp, width), f"{prefix}mlp.c_fc.bias": normal(mlp),
        f"{prefix}mlp.c_proj.weight": normal(width, mlp), f"{prefix}mlp.c_proj.bias": normal(width),
    }  # fmt: skip


def build_hps(out: Path, config: CLIPConfig) -> None:
    """The stand-in for the HPS v2.1 checkpoint: an open_clip state dict of ``config``."""
    # Written in open_clip's own layout (the names and shapes open_clip's
    # VisionTransformer and TextTransformer save), from the config alone, so the
    # scorer's open_clip-to-transformers conversion is what reads it.
    v: Any = config.vision_config
    t: Any = config.text_config
    dim = int(config.projection_dim or 0)
    grid = (v.image_size // v.patch_size) ** 2
    state: dict[str, torch.Tensor] = {
        "visual.class_embedding": torch.randn(v.hidden_size) * 0.02,
        "visual.positional_embedding": torch.randn(grid + 1, v.hidden_size) * 0.02,
        "visual.conv1.weight": torch.randn(v.hidden_size, 3, v.patch_size, v.patch_size) * 0.02,
        "visual.ln_pre.weight": torch.ones(v.hidden_size),
        "visual.ln_pre.bias": torch.zeros(v.hidden_size),
        "visual.ln_post.weight": torch.ones(v.hidden_size),
        "visual.ln_post.bias": torch.zeros(v.hidden_size),
        "visual.proj": torch.randn(v.hidden_size, dim) * v.hidden_size**-0.5,
        "token_embedding.weight": torch.randn(t.vocab_size, t.hidden_size) * 0.02,
        "positional_embedding": torch.randn(t.max_position_embeddings, t.hidden_size) * 0.01,
        "ln_final.weight": torch.ones(t.hidden_size),
        "ln_final.bias": torch.zeros(t.hidden_size),
        "text_projection": torch.randn(t.hidden_size, dim) * t.hidden_size**-0.5,
        "logit_scale": torch.tensor(4.6052),  # log(100), as trained CLIPs end up
    }
    for i in range(v.num_hidden_layers):
        prefix = f"visual.transformer.resblocks.{i}."
        state.update(_open_clip_block(prefix, v.hidden_size, v.intermediate_size))
    for i in range(t.num_hidden_layers):
        state.update(_open_clip_block(f"transformer.resblocks.{i}.", t.hidden_size,
                                      t.intermediate_size))  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    # The compressed HPS file is half precision; keep that so the loader's upcast runs.
    torch.save({"state_dict": {k: x.half() for k, x in state.items()}}, out / HPS_FILE)
