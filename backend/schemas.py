"""Request and response bodies of the OpenAI Images API, plus this service's extensions.

The models check shapes and types only (strictly: ``"2"`` is not an ``n``); the limits that
depend on settings (prompt length, ``n``, size, steps, model name) are checked by
:func:`backend.validation.resolve_request`, which names the field at fault.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

ResponseFormat = Literal["b64_json", "url"]


def _integral(value: object) -> object:
    # JSON has one number type, and JSON Schema's "integer" includes 2.0: take integral floats
    # as ints (strict mode still refuses 1.5, "2" and true).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(_integral)]


class ImageGenerationRequest(BaseModel):
    """``POST /v1/images/generations``: the OpenAI fields, then this service's extensions.

    ``quality``, ``style`` and ``moderation`` are accepted for compatibility with OpenAI clients
    and ignored; any other unknown field is an error, so a misspelt extension does not pass
    unnoticed.
    """

    model_config = ConfigDict(strict=True, extra="forbid")

    prompt: str
    n: JsonInt | None = 1
    size: str | None = None
    response_format: ResponseFormat | None = "b64_json"
    model: str | None = None
    user: str | None = None
    quality: str | None = None
    style: str | None = None
    moderation: str | None = None
    output_format: Literal["png"] | None = None

    # At most 2**53 - 1: the largest integer every JSON client (JavaScript's numbers) and
    # validator (comparing as doubles) reads exactly.
    seed: Annotated[int, Field(ge=0, le=2**53 - 1), BeforeValidator(_integral)] | None = None
    num_inference_steps: JsonInt | None = None
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


class ReadyStatus(BaseModel):
    """``GET /readyz``: 200 with ``device`` and ``dtype`` once ready, 503 with ``error`` if the
    load failed."""

    status: Literal["loading", "ready", "failed"]
    model: str
    queue_depth: int
    device: str | None = None
    dtype: str | None = None
    error: str | None = None


JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class JobError(BaseModel):
    """Why a job failed or was cancelled: the error envelope's object."""

    message: str
    type: str
    param: str | None = None
    code: str


class JobCreated(BaseModel):
    """``POST /v1/images/jobs`` (202): the job's id, status and place in the queue."""

    id: str
    object: Literal["image.job"] = "image.job"
    status: JobState
    queue_position: int | None


class JobInfo(BaseModel):
    """A job as it stands. ``queue_position`` is 1 for the next to run (None once running);
    ``step`` of ``steps`` done; ``eta_seconds`` from the recent step times (None before any);
    ``lease_wait_seconds`` counts while it waits for the GPU lease; ``result`` is the blocking
    route's answer, once a background job succeeded."""

    id: str
    object: Literal["image.job"] = "image.job"
    status: JobState
    background: bool
    created: int
    queue_position: int | None
    step: int
    steps: int
    progress: float
    eta_seconds: float | None
    lease_wait_seconds: float | None
    forced: bool | None
    cancel_requested: bool
    finished_at: float | None
    error: JobError | None = None
    result: ImagesResponse | None = None


class JobList(BaseModel):
    """``GET /v1/images/jobs``: a page of jobs, running first, then the queue in order, then
    the finished ones newest first; ``total`` counts every job kept."""

    object: Literal["list"] = "list"
    data: list[JobInfo]
    total: int
    has_more: bool
    queue_depth: int
