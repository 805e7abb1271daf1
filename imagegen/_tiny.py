"""Tiny offline models: the embedded default for the local run and the tests.

Built from configs alone (no download) with random weights, saved with
``save_pretrained`` and then loaded back through the same loaders the services
use, so the tiny path exercises the real code. ``python -m imagegen.tiny --out DIR``
writes:

- ``DIR/tiny-sd/``: a Stable Diffusion pipeline (64x64 images in a fraction of a second on a CPU);
- ``DIR/tiny-clip/``: a CLIP model with its processor (for the CLIP score);
- ``DIR/tiny-aesthetic/sac+logos+ava1-l14-linearMSE.pth``: an aesthetic head in the
  LAION improved-aesthetic-predictor layout, sized for the tiny CLIP's embeddings;
- ``DIR/tiny-vit-h/``: a ``CLIPConfig`` and ``CLIPProcessor`` standing in for
  ``laion/CLIP-ViT-H-14-laion2B-s32B-b79K`` (the processor PickScore and HPS read,
  and the architecture HPS's open_clip weights load into);
- ``DIR/tiny-pickscore/``: a ``CLIPModel`` of that architecture, standing in for
  ``yuvalkirstain/PickScore_v1``;
- ``DIR/tiny-hps/HPS_v2.1_compressed.pt``: an open_clip state dict of that
  architecture (``{"state_dict": ...}``, open_clip's key names), standing in for
  the HPS v2.1 checkpoint of ``xswu/HPSv2``.

The images are noise-like: these models prove the plumbing, not the art.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import (
    CLIPConfig,
    CLIPImageProcessor,
    CLIPModel,
    CLIPProcessor,
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTokenizer,
    CLIPVisionConfig,
)
from transformers.convert_slow_tokenizer import bytes_to_unicode

from imagegen._load import load_pipeline
from imagegen._tiny_preference import HPS_FILE, build_hps, build_pickscore, build_vit_h

log = logging.getLogger(__name__)

AESTHETIC_FILE = "sac+logos+ava1-l14-linearMSE.pth"
_MANIFEST = "tiny-models.json"
# Bump when the recipe changes so stale builds are replaced.
_RECIPE_VERSION = 3
_SEED = 0
_TEXT_WIDTH = 32
_PROJECTION_DIM = 32


@dataclass(frozen=True)
class TinyModels:
    """Where the tiny models were written."""

    root: Path
    pipeline: Path
    clip: Path
    aesthetic: Path
    vit_h: Path
    pickscore: Path
    hps: Path


def _paths(root: Path) -> TinyModels:
    return TinyModels(
        root=root,
        pipeline=root / "tiny-sd",
        clip=root / "tiny-clip",
        aesthetic=root / "tiny-aesthetic",
        vit_h=root / "tiny-vit-h",
        pickscore=root / "tiny-pickscore",
        hps=root / "tiny-hps",
    )


def byte_level_clip_tokenizer() -> CLIPTokenizer:
    """A CLIP tokenizer built offline: byte-level vocabulary, no merges.

    Every character is a token and prompts pad or truncate to CLIP's 77 tokens,
    so text encoders see real-shaped input. Real CLIP vocabularies come from the
    hub; this one lets the tiny models and the SD-1.5-shaped benchmark pipeline
    be built with nothing fetched.
    """
    symbols = list(bytes_to_unicode().values())
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        for symbol in symbols:
            vocab[symbol + suffix] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def _text_config(vocab_size: int) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=_TEXT_WIDTH,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        projection_dim=_PROJECTION_DIM,
    )


def _build_pipeline(out: Path, tokenizer: CLIPTokenizer) -> None:
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=_TEXT_WIDTH,
        attention_head_dim=(2, 4),
        norm_num_groups=32,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(32, 64),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        sample_size=64,
    )
    text_encoder = CLIPTextModel(_text_config(len(tokenizer)))
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        clip_sample=False,
        set_alpha_to_one=False,
    )
    pipe: Any = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(out)


def _build_clip(out: Path, tokenizer: CLIPTokenizer) -> None:
    config = CLIPConfig(
        text_config=_text_config(len(tokenizer)).to_dict(),
        vision_config=CLIPVisionConfig(
            hidden_size=_TEXT_WIDTH,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=32,
            patch_size=4,
            projection_dim=_PROJECTION_DIM,
        ).to_dict(),
        projection_dim=_PROJECTION_DIM,
    )
    CLIPModel(config).save_pretrained(out)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=32)
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(out)


def _build_aesthetic_head(out: Path) -> None:
    # Same layer layout as the LAION improved aesthetic predictor, so the scorer
    # loads it with the code that loads the real ViT-L/14 head (input 768).
    head = torch.nn.Sequential(
        torch.nn.Linear(_PROJECTION_DIM, 1024),
        torch.nn.Dropout(0.2),
        torch.nn.Linear(1024, 128),
        torch.nn.Dropout(0.2),
        torch.nn.Linear(128, 64),
        torch.nn.Dropout(0.1),
        torch.nn.Linear(64, 16),
        torch.nn.Linear(16, 1),
    )
    state = {f"layers.{key}": value for key, value in head.state_dict().items()}
    out.mkdir(parents=True, exist_ok=True)
    torch.save(state, out / AESTHETIC_FILE)


def _quiet_progress_bars() -> None:
    # A sub-second build of three small models does not need six progress bars.
    import diffusers.utils.logging as diffusers_logging
    import transformers.utils.logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()


def _make_world_readable(root: Path) -> None:
    # safetensors writes its files 0600. The tiny models are mounted into the
    # containers, which run as a non-root user, so a root-built tree must be readable.
    for path in [root, *root.rglob("*")]:
        extra = 0o555 if path.is_dir() else 0o444
        path.chmod(path.stat().st_mode | extra)


def _is_built(paths: TinyModels) -> bool:
    manifest = paths.root / _MANIFEST
    try:
        recipe = json.loads(manifest.read_text()).get("recipe")
    except (OSError, ValueError):
        return False
    return bool(
        recipe == _RECIPE_VERSION
        and (paths.pipeline / "model_index.json").is_file()
        and (paths.clip / "config.json").is_file()
        and (paths.aesthetic / AESTHETIC_FILE).is_file()
        and (paths.vit_h / "config.json").is_file()
        and (paths.pickscore / "config.json").is_file()
        and (paths.hps / HPS_FILE).is_file()
    )


def build_tiny_models(out: str | Path, *, force: bool = False) -> TinyModels:
    """Build the tiny models under ``out`` (skipped when a complete build is there).

    Deterministic: the same recipe gives the same weights. The manifest is written
    last, so an interrupted build is rebuilt on the next call rather than used.
    """
    _quiet_progress_bars()
    paths = _paths(Path(out))
    if not force and _is_built(paths):
        return paths
    paths.root.mkdir(parents=True, exist_ok=True)
    (paths.root / _MANIFEST).unlink(missing_ok=True)
    torch.manual_seed(_SEED)
    tokenizer = byte_level_clip_tokenizer()
    _build_pipeline(paths.pipeline, tokenizer)
    _build_clip(paths.clip, tokenizer)
    _build_aesthetic_head(paths.aesthetic)
    # Built after the first three, so their weights stay what recipe 2 made.
    vit_h = build_vit_h(paths.vit_h, tokenizer, _text_config(len(tokenizer)))
    build_pickscore(paths.pickscore, vit_h)
    build_hps(paths.hps, vit_h)
    _make_world_readable(paths.root)
    # Load back through the real loaders: a build that cannot be loaded is a bug here.
    load_pipeline(str(paths.pipeline), device="cpu")
    CLIPModel.from_pretrained(paths.clip)
    CLIPProcessor.from_pretrained(paths.clip)
    CLIPModel.from_pretrained(paths.pickscore)
    CLIPProcessor.from_pretrained(paths.vit_h)
    manifest = {
        "recipe": _RECIPE_VERSION,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (paths.root / _MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return paths
