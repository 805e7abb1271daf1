"""Loading a text-to-image pipeline from a Hugging Face repo id or a local folder."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoPipelineForText2Image, DiffusionPipeline

from imagegen._device import pick_device, pick_dtype

log = logging.getLogger(__name__)

# Distilled few-step models ship without classifier-free guidance; running them with
# 30 steps and guidance 7.5 wastes time and makes worse images.
_FEW_STEP_MARKERS = ("turbo", "lightning", "lcm", "schnell", "hyper")


class ModelLoadError(ValueError):
    """A pipeline could not be loaded; the message names the model and the reason."""

    def __init__(self, model: str, reason: str) -> None:
        super().__init__(f"cannot load model {model!r}: {reason}")
        self.model = model
        self.reason = reason


@dataclass
class LoadedPipeline:
    """A ready pipeline and the defaults that suit it."""

    model_id: str
    # Any: each diffusers pipeline class defines its own __call__; the base class has none.
    pipe: Any
    device: str
    dtype: torch.dtype
    default_width: int
    default_height: int
    default_steps: int
    default_guidance: float


def _native_size(pipe: DiffusionPipeline) -> int:
    """The resolution the model was trained at: latent sample size times the VAE factor."""
    denoiser = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
    sample_size = getattr(getattr(denoiser, "config", None), "sample_size", None)
    scale = getattr(pipe, "vae_scale_factor", 8)
    if isinstance(sample_size, int) and isinstance(scale, int):
        return sample_size * scale
    return 512


def _share_cpu_cores() -> None:
    """On the CPU, leave cores for the other service unless the user chose a count.

    The backend and the runner share one host. With both processes running
    OpenMP pools sized to every core, spin-waiting threads fight each other:
    measured on 2 cores, a tiny 5-step generation took 8.7 s instead of 0.3 s.
    ``OMP_NUM_THREADS`` (or ``torch.set_num_threads`` by the caller) wins.
    """
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))


def load_pipeline(
    model: str,
    *,
    device: str | None = None,
    dtype: str | None = None,
    variant: str | None = None,
) -> LoadedPipeline:
    """Load ``model`` (a local folder or a hub repo id) onto ``device`` in ``dtype``.

    A path that exists on disk is loaded as a folder saved with ``save_pretrained``;
    anything else is treated as a hub repo id and resolved through the Hugging Face
    cache, so ``HF_HOME``, ``HF_TOKEN`` and ``HF_HUB_OFFLINE`` apply as usual.
    Every failure (missing folder, unknown repo, no network while offline, a
    pipeline class diffusers does not know, out of memory) raises
    :class:`ModelLoadError` naming the model and the reason.
    """
    if not model or not model.strip():
        raise ModelLoadError(model, "the model name is empty")
    try:
        target_device = pick_device(device)
        torch_dtype = pick_dtype(target_device, dtype)
    except ValueError as exc:
        raise ModelLoadError(model, str(exc)) from exc
    local = Path(model).expanduser()
    looks_local = local.exists() or model.startswith((".", "/", "~"))
    if looks_local and not (local / "model_index.json").is_file():
        reason = f"{local} is not a diffusers pipeline folder (no model_index.json)"
        raise ModelLoadError(model, reason)
    source = str(local) if looks_local else model
    kwargs: dict[str, Any] = {"dtype": torch_dtype}
    if variant:
        kwargs["variant"] = variant
    log.info(
        "loading %s on %s as %s", model, target_device, str(torch_dtype).removeprefix("torch.")
    )
    try:
        try:
            pipe = AutoPipelineForText2Image.from_pretrained(source, **kwargs)
        except ValueError as exc:
            # AutoPipeline knows only the families it maps; a custom text-to-image
            # pipeline still loads through its own class named in model_index.json.
            if "AutoPipeline" not in str(exc):
                raise
            pipe = DiffusionPipeline.from_pretrained(source, **kwargs)
        pipe = pipe.to(target_device)
    except Exception as exc:  # diffusers and the hub raise many unrelated types
        raise ModelLoadError(model, f"{type(exc).__name__}: {exc}") from exc
    pipe.set_progress_bar_config(disable=True)
    if target_device == "cpu":
        _share_cpu_cores()
    few_step = any(marker in model.lower() for marker in _FEW_STEP_MARKERS)
    size = _native_size(pipe)
    return LoadedPipeline(
        model_id=model,
        pipe=pipe,
        device=target_device,
        dtype=torch_dtype,
        default_width=size,
        default_height=size,
        default_steps=4 if few_step else 30,
        default_guidance=0.0 if few_step else 7.5,
    )
