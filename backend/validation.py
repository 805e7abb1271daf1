"""Check a generation request against the settings and turn it into an ``imagegen`` request.

Every refusal is an :class:`~backend.errors.InvalidRequest` (400) or, for a model not served
here, a :class:`~backend.errors.NotFound` (404), naming the field at fault and carrying a code.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from backend.errors import InvalidRequest, NotFound
from backend.schemas import ImageGenerationRequest, ResponseFormat
from backend.settings import Settings
from imagegen import GenerationRequest, LoadedPipeline

# A prompt needs one character that draws: neither whitespace nor a control character (the
# OpenAPI document states the same rule as this pattern; JSON Schema patterns are unanchored).
_CONTROL = "\\x00-\\x1f\\x7f-\\x9f"
PROMPT_PATTERN = f"[^\\s{_CONTROL}]"
# The negative prompt may be blank (no negative prompt); otherwise the same rule.
NEGATIVE_PATTERN = f"^(?:\\s*|[\\s\\S]*[^\\s{_CONTROL}][\\s\\S]*)$"


_SHAPE = re.compile(r"[ \t]*[0-9]+[ \t]*[xX×][ \t]*[0-9]+[ \t]*")


@functools.cache
def size_pattern(min_size: int, max_size: int) -> str:
    """The sizes allowed, as a regular expression: ``auto`` or ``WxH``, each side one of the
    multiples of 8 in ``[min_size, max_size]`` written in ASCII digits (``re``'s ``\\d`` would
    also take "٦٤", which ``int()`` reads as 64)."""
    sides = "|".join(str(side) for side in range(max_size, min_size - 1, -8))
    return f"^[ \\t]*(?:[aA][uU][tT][oO]|({sides})[ \\t]*[xX×][ \\t]*({sides}))[ \\t]*$"


# The VAE decode, counted as denoising steps: it runs once per image after the last step, where
# no step hook can stop it, and on the CPU it costs several steps (2 steps at 1024x1024 on the
# CPU held a worker for minutes, nearly all of it decoding).
DECODE_STEPS = 10


@dataclass(frozen=True)
class ResolvedRequest:
    """A validated request: what to generate, and how the client wants the images back."""

    generation: GenerationRequest
    response_format: ResponseFormat


def ensure_served(model: str, settings: Settings) -> None:
    """The one "served here" rule: the listed id or the configured model; else 404 on ``model``."""
    if model not in {settings.served_model_name, settings.model}:
        raise NotFound(
            f"model: {model!r} is not served here; this service serves "
            f"{settings.served_model_name!r}",
            param="model",
            code="model_not_found",
        )


def parse_size(size: str | None, settings: Settings) -> tuple[int | None, int | None]:
    """``"WxH"`` -> ``(W, H)``; ``None`` or ``"auto"`` -> the model's default ``(None, None)``.

    Both sides must be multiples of 8 within ``[min_size, max_size]`` and the area within
    ``max_pixels``; anything else raises :class:`InvalidRequest` naming ``size``.
    """
    if size is None:
        return None, None
    match = re.fullmatch(size_pattern(settings.min_size, settings.max_size), size)
    if match is not None and match.group(1) is None:
        return None, None  # "auto"
    if match is None and _SHAPE.fullmatch(size):
        raise InvalidRequest(
            f"size: {size.strip()} is not allowed; each side must be a multiple of 8 "
            f"between {settings.min_size} and {settings.max_size}",
            param="size",
            code="invalid_size",
        )
    if match is None:
        raise InvalidRequest(
            f"size: expected 'WxH' (e.g. '512x512') or 'auto', got {size!r}",
            param="size",
            code="invalid_size",
        )
    width, height = int(match.group(1)), int(match.group(2))
    if width * height > settings.max_pixels:
        raise InvalidRequest(
            f"size: {width}x{height} has {width * height} pixels, more than the "
            f"{settings.max_pixels} allowed",
            param="size",
            code="invalid_size",
        )
    return width, height


def _visible(text: str) -> bool:
    return re.search(PROMPT_PATTERN, text) is not None


def check_text(field: str, value: str, settings: Settings, *, required: bool) -> None:
    """A prompt field: valid UTF-8 (no lone surrogates), within the length limit, not blank."""
    code = f"invalid_{field}"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequest(
            f"{field}: not valid Unicode text (a lone surrogate {value[exc.start]!r} at "
            f"character {exc.start}); send UTF-8",
            param=field,
            code=code,
        ) from None
    if len(value) > settings.max_prompt_chars:
        raise InvalidRequest(
            f"{field}: {len(value)} characters, more than the {settings.max_prompt_chars} allowed",
            param=field,
            code=code,
        )
    if required and not value.strip():
        raise InvalidRequest(f"{field}: must not be empty", param=field, code=code)
    if value.strip() and not _visible(value):
        raise InvalidRequest(
            f"{field}: only control or format characters, nothing to draw",
            param=field,
            code=code,
        )


def resolve_request(body: ImageGenerationRequest, settings: Settings) -> ResolvedRequest:
    """Apply the settings' limits to ``body``; raise the first violation, naming its field."""
    check_text("prompt", body.prompt, settings, required=True)
    negative = body.negative_prompt
    if negative is not None:
        check_text("negative_prompt", negative, settings, required=False)
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
            code="invalid_num_inference_steps",
        )
    if body.model is not None:
        ensure_served(body.model, settings)
    width, height = parse_size(body.size, settings)
    generation = GenerationRequest(
        prompt=body.prompt,
        negative_prompt=negative,
        width=width,
        height=height,
        steps=steps,
        guidance=body.guidance_scale,
        seed=body.seed,
        n=n,
    )
    return ResolvedRequest(generation, body.response_format or "b64_json")


def work_of(request: GenerationRequest, loaded: LoadedPipeline) -> int:
    """Pixel-steps of ``request`` on ``loaded`` (its defaults filled in):
    W x H x n x (steps + :data:`DECODE_STEPS`)."""
    width = request.width or loaded.default_width
    height = request.height or loaded.default_height
    steps = request.steps or loaded.default_steps
    return width * height * request.n * (steps + DECODE_STEPS)


def check_work(request: GenerationRequest, loaded: LoadedPipeline, settings: Settings) -> None:
    """Refuse a request whose work exceeds the budget of the device the model runs on."""
    budget = settings.work_budget(loaded.device)
    work = work_of(request, loaded)
    if work > budget:
        raise InvalidRequest(
            f"size x n x (num_inference_steps + {DECODE_STEPS} for the decode) is {work:,} "
            f"pixel-steps, more than the "
            f"{budget:,} this service allows per request on {loaded.device} "
            "(BACKEND_MAX_WORK): ask for fewer steps, fewer images or a smaller size",
            param=None,
            code="work_too_large",
        )
