"""Request and response bodies of the OpenAI Images API, plus this service's extensions.

The models check shapes and types only (strictly: ``"2"`` is not an ``n``); the limits that
depend on settings (prompt length, ``n``, size, steps, model name) are checked by
:func:`backend.validation.resolve_request`, which names the field at fault.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ResponseFormat = Literal["b64_json", "url"]


class ImageGenerationRequest(BaseModel):
    """``POST /v1/images/generations``: the OpenAI fields, then this service's extensions.

    ``quality``, ``style`` and ``moderation`` are accepted for compatibility with OpenAI clients
    and ignored; any other unknown field is an error, so a misspelt extension does not pass
    unnoticed.
    """

    model_config = ConfigDict(strict=True, extra="forbid")

    prompt: str
    n: int | None = 1
    size: str | None = None
    response_format: ResponseFormat | None = "b64_json"
    model: str | None = None
    user: str | None = None
    quality: str | None = None
    style: str | None = None
    moderation: str | None = None
    output_format: Literal["png"] | None = None

    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
    num_inference_steps: int | None = None
    guidance_scale: float | None = Field(default=None, ge=0.0, le=100.0, allow_inf_nan=False)
    negative_prompt: str | None = None


class ImageData(BaseModel):
    """One image: ``b64_json`` (a base64 PNG) or ``url`` (served by ``GET /images/{id}.png``)."""

    b64_json: str | None = None
    url: str | None = None
    revised_prompt: str | None = None


class ImagesResponse(BaseModel):
    """The OpenAI images response: a Unix timestamp and the images."""

    created: int
    data: list[ImageData]


class ModelCard(BaseModel):
    """One entry of ``GET /v1/models``."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "local"


class ModelList(BaseModel):
    """``GET /v1/models``: the one model this service serves."""

    object: Literal["list"] = "list"
    data: list[ModelCard]
