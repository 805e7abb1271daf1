"""Check a generation request against the settings and turn it into concrete parameters."""

from __future__ import annotations

import re
from dataclasses import dataclass

from backend.errors import InvalidRequest, NotFound
from backend.schemas import ImageGenerationRequest, ResponseFormat
from backend.settings import Settings

_SIZE = re.compile(r"^\s*(\d{1,5})\s*[xX×]\s*(\d{1,5})\s*$")


@dataclass(frozen=True)
class GenerationParams:
    """A validated request: every value the pipeline needs, ``None`` meaning the model default."""

    prompt: str
    negative_prompt: str | None
    n: int
    width: int | None
    height: int | None
    num_inference_steps: int | None
    guidance_scale: float | None
    seed: int | None
    response_format: ResponseFormat


def parse_size(size: str | None, settings: Settings) -> tuple[int | None, int | None]:
    """``"WxH"`` -> ``(W, H)``; ``None`` or ``"auto"`` -> the model's default ``(None, None)``.

    Both sides must be multiples of 8 within ``[min_size, max_size]`` and the area within
    ``max_pixels``; anything else raises :class:`InvalidRequest` naming ``size``.
    """
    if size is None or size.strip().lower() == "auto":
        return None, None
    match = _SIZE.match(size)
    if match is None:
        raise InvalidRequest(
            f"size: expected 'WxH' (e.g. '512x512') or 'auto', got {size!r}",
            param="size",
            code="invalid_size",
        )
    width, height = int(match.group(1)), int(match.group(2))
    lo, hi = settings.min_size, settings.max_size
    for side in (width, height):
        if side % 8 or not lo <= side <= hi:
            raise InvalidRequest(
                f"size: {width}x{height} is not allowed; each side must be a multiple of 8 "
                f"between {lo} and {hi}",
                param="size",
                code="invalid_size",
            )
    if width * height > settings.max_pixels:
        raise InvalidRequest(
            f"size: {width}x{height} has {width * height} pixels, more than the "
            f"{settings.max_pixels} allowed",
            param="size",
            code="invalid_size",
        )
    return width, height


def resolve_request(body: ImageGenerationRequest, settings: Settings) -> GenerationParams:
    """Apply the settings' limits to ``body``; raise the first violation, naming its field."""
    prompt = body.prompt
    if not prompt.strip():
        raise InvalidRequest("prompt: must not be empty", param="prompt", code="invalid_prompt")
    if len(prompt) > settings.max_prompt_chars:
        raise InvalidRequest(
            f"prompt: {len(prompt)} characters, more than the {settings.max_prompt_chars} allowed",
            param="prompt",
            code="invalid_prompt",
        )
    negative = body.negative_prompt
    if negative is not None and len(negative) > settings.max_prompt_chars:
        raise InvalidRequest(
            f"negative_prompt: {len(negative)} characters, more than the "
            f"{settings.max_prompt_chars} allowed",
            param="negative_prompt",
        )
    n = 1 if body.n is None else body.n
    if not 1 <= n <= settings.max_n:
        raise InvalidRequest(
            f"n: must be between 1 and {settings.max_n}, got {n}", param="n", code="invalid_n"
        )
    steps = body.num_inference_steps
    if steps is not None and not 1 <= steps <= settings.max_steps:
        raise InvalidRequest(
            f"num_inference_steps: must be between 1 and {settings.max_steps}, got {steps}",
            param="num_inference_steps",
        )
    if body.model is not None and body.model not in {settings.served_model_name, settings.model}:
        raise NotFound(
            f"model: {body.model!r} is not served here; this service serves "
            f"{settings.served_model_name!r}",
            param="model",
            code="model_not_found",
        )
    width, height = parse_size(body.size, settings)
    return GenerationParams(
        prompt=prompt,
        negative_prompt=negative,
        n=n,
        width=width,
        height=height,
        num_inference_steps=steps,
        guidance_scale=body.guidance_scale,
        seed=body.seed,
        response_format=body.response_format or "b64_json",
    )
