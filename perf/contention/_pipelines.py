"""The pipelines the contention benchmark runs: the tiny one, or one shaped like SD 1.5.

Nothing is downloaded. ``tiny`` is the project's embedded test pipeline (built
once into the models folder by :func:`imagegen.build_tiny_models`). ``sd15-shaped``
is a Stable Diffusion 1.5 pipeline assembled from the SD 1.5 component configs
(UNet 860M, VAE 84M, CLIP ViT-L/14 text encoder 123M) with random weights: the
images are noise, but every step costs the same compute and memory as the
real model, which is all a scheduling benchmark needs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from diffusers.utils import logging as diffusers_logging
from transformers import CLIPTextConfig, CLIPTextModel

from imagegen import (
    LoadedPipeline,
    build_tiny_models,
    byte_level_clip_tokenizer,
    load_pipeline,
    pick_dtype,
)

SD15_SIZE = 512

# runwayml/stable-diffusion-v1-5, unet/config.json
SD15_UNET: dict[str, Any] = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "center_input_sample": False,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "down_block_types": (
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "DownBlock2D",
    ),
    "up_block_types": (
        "UpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
    ),
    "block_out_channels": (320, 640, 1280, 1280),
    "layers_per_block": 2,
    "downsample_padding": 1,
    "mid_block_scale_factor": 1,
    "act_fn": "silu",
    "norm_num_groups": 32,
    "norm_eps": 1e-5,
    "cross_attention_dim": 768,
    "attention_head_dim": 8,
}

# runwayml/stable-diffusion-v1-5, vae/config.json
SD15_VAE: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "act_fn": "silu",
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 512,
    "scaling_factor": 0.18215,
}

# openai/clip-vit-large-patch14 text tower, as in SD 1.5's text_encoder/config.json
SD15_TEXT: dict[str, Any] = {
    "vocab_size": 49408,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "projection_dim": 768,
    "bos_token_id": 0,
    "eos_token_id": 1,
    "pad_token_id": 1,
}

# runwayml/stable-diffusion-v1-5, scheduler/scheduler_config.json (as DDIM)
SD15_SCHEDULER: dict[str, Any] = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "steps_offset": 1,
    "clip_sample": False,
    "set_alpha_to_one": False,
}


def build_sd15_shaped(device: str, dtype: str | None = None, seed: int = 0) -> LoadedPipeline:
    """An SD 1.5-shaped pipeline with random weights on ``device`` (fp16 on CUDA)."""
    torch_dtype = pick_dtype(device, dtype)
    torch.manual_seed(seed)
    # Create the weights where they will live: a random init of 1.07 B parameters
    # takes half a minute on one CPU thread and a moment on the GPU.
    with torch.device(device):
        unet = UNet2DConditionModel(**SD15_UNET)
        vae = AutoencoderKL(**SD15_VAE)
        text_encoder = CLIPTextModel(CLIPTextConfig(**SD15_TEXT))
    # The scheduler's tables stay on the CPU, as from_pretrained would leave them.
    pipe: Any = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=byte_level_clip_tokenizer(),
        unet=unet,
        scheduler=DDIMScheduler(**SD15_SCHEDULER),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    # diffusers logs a notice on casting a model built in code (there is no checkpoint
    # dtype to honour here); keep the benchmark's output to its own lines.
    verbosity = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()
    try:
        pipe = pipe.to(device, torch_dtype)
    finally:
        diffusers_logging.set_verbosity(verbosity)
    pipe.set_progress_bar_config(disable=True)
    return LoadedPipeline(
        model_id="sd15-shaped (random weights)",
        pipe=pipe,
        device=device,
        dtype=torch_dtype,
        default_width=SD15_SIZE,
        default_height=SD15_SIZE,
        default_steps=30,
        default_guidance=7.5,
    )


def load_for_benchmark(kind: str, device: str, models_dir: Path) -> tuple[LoadedPipeline, float]:
    """The pipeline ``kind`` on ``device`` and the seconds it took to get it."""
    started = time.perf_counter()
    if kind == "tiny":
        tiny = build_tiny_models(models_dir)
        loaded = load_pipeline(str(tiny.pipeline), device=device)
    elif kind == "sd15-shaped":
        loaded = build_sd15_shaped(device)
    else:
        raise ValueError(f"pipeline: must be 'tiny' or 'sd15-shaped', got {kind!r}")
    return loaded, time.perf_counter() - started
