"""Running a loaded pipeline with hooks between denoising steps and between blocks."""

from __future__ import annotations

import contextlib
import inspect
import secrets
from collections.abc import Callable
from typing import Any

import torch
from PIL import Image

from imagegen._blocks import BlockHook, block_hooks
from imagegen._load import LoadedPipeline
from imagegen._request import GenerationRequest

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
    request: GenerationRequest,
    *,
    on_step: StepHook | None = None,
    on_block: BlockHook | None = None,
) -> list[Image.Image]:
    """Make ``request.n`` images for ``request``; deterministic for a given seed.

    Image ``i`` is drawn from its own CPU generator seeded ``seed + i``, so it is
    the same image whether it was made alone or in a batch, on CPU or GPU, up to
    floating-point rounding (batched kernels and devices round differently).
    ``on_step(step_index, total)`` runs after every denoising step; whatever it
    blocks on pauses the pipeline without losing its place, and whatever it
    raises stops the generation there. ``on_block(name)`` runs before each
    top-level block of the denoiser and of the VAE decoder (see
    :func:`imagegen.pipeline_blocks`), with the same guarantees: a pause there
    leaves the image bit-identical, a raise stops it inside the step or the
    decode; its hooks are removed when the call ends, however it ends. Without
    a seed, a random one is drawn.
    """
    width = request.width or loaded.default_width
    height = request.height or loaded.default_height
    multiple = 8
    if width % multiple or height % multiple:
        raise ValueError(f"size {width}x{height}: width and height must be multiples of {multiple}")
    steps = request.steps or loaded.default_steps
    guidance = loaded.default_guidance if request.guidance is None else request.guidance
    base_seed = secrets.randbits(31) if request.seed is None else request.seed
    generators = [torch.Generator("cpu").manual_seed(base_seed + i) for i in range(request.n)]
    kwargs: dict[str, Any] = {
        "prompt": request.prompt,
        "width": width,
        "height": height,
        "num_inference_steps": steps,
        "guidance_scale": guidance,
        "num_images_per_prompt": request.n,
        "generator": generators,
    }
    if request.negative_prompt:
        kwargs["negative_prompt"] = request.negative_prompt
    if on_step is not None:
        if "callback_on_step_end" not in inspect.signature(loaded.pipe.__call__).parameters:
            raise TypeError(
                f"{type(loaded.pipe).__name__} has no callback_on_step_end: "
                "it cannot yield between steps"
            )
        kwargs["callback_on_step_end"] = _step_callback(on_step, steps)
    hooked = (
        block_hooks(loaded.pipe, on_block) if on_block is not None else contextlib.nullcontext()
    )
    with hooked, torch.inference_mode():
        output = loaded.pipe(**kwargs)
    return list(output.images)
