"""Running a loaded pipeline with a hook between denoising steps."""

from __future__ import annotations

import inspect
import secrets
from collections.abc import Callable
from typing import Any

import torch
from PIL import Image

from imagegen._load import LoadedPipeline

StepHook = Callable[[int, int], None]


def _step_callback(hook: StepHook, total: int) -> Callable[..., dict[str, Any]]:
    def on_step_end(
        pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        # The pipeline's state lives in its local variables, so a hook that blocks
        # here (a lease handing the GPU over) resumes at this very step.
        hook(step, getattr(pipe, "num_timesteps", total) or total)
        return callback_kwargs

    return on_step_end


def generate(
    loaded: LoadedPipeline,
    prompt: str,
    *,
    negative_prompt: str | None = None,
    width: int | None = None,
    height: int | None = None,
    num_inference_steps: int | None = None,
    guidance_scale: float | None = None,
    seed: int | None = None,
    num_images: int = 1,
    on_step: StepHook | None = None,
) -> list[Image.Image]:
    """Make ``num_images`` images for ``prompt``; deterministic for a given ``seed``.

    Image ``i`` is drawn from its own CPU generator seeded ``seed + i``, so it is
    the same image whether it was made alone or in a batch, on CPU or GPU, up to
    floating-point rounding (batched kernels and devices round differently).
    ``on_step(step_index, total)`` runs after every denoising step; whatever it
    blocks on pauses the pipeline without losing its place. Without a seed, a random one is drawn.
    """
    if num_images < 1:
        raise ValueError(f"num_images={num_images}: must be at least 1")
    width = width or loaded.default_width
    height = height or loaded.default_height
    multiple = 8
    if width % multiple or height % multiple:
        raise ValueError(f"size {width}x{height}: width and height must be multiples of {multiple}")
    steps = num_inference_steps or loaded.default_steps
    guidance = loaded.default_guidance if guidance_scale is None else guidance_scale
    base_seed = secrets.randbits(31) if seed is None else seed
    generators = [torch.Generator("cpu").manual_seed(base_seed + i) for i in range(num_images)]
    kwargs: dict[str, Any] = {
        "prompt": prompt,
        "width": width,
        "height": height,
        "num_inference_steps": steps,
        "guidance_scale": guidance,
        "num_images_per_prompt": num_images,
        "generator": generators,
    }
    if negative_prompt:
        kwargs["negative_prompt"] = negative_prompt
    if on_step is not None:
        if "callback_on_step_end" not in inspect.signature(loaded.pipe.__call__).parameters:
            raise TypeError(
                f"{type(loaded.pipe).__name__} has no callback_on_step_end: "
                "it cannot yield between steps"
            )
        kwargs["callback_on_step_end"] = _step_callback(on_step, steps)
    with torch.inference_mode():
        output = loaded.pipe(**kwargs)
    return list(output.images)
