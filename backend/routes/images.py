"""``POST /v1/images/generations`` and ``GET /images/{id}.png``."""

from __future__ import annotations

import asyncio
import base64
import io
import time

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from PIL import Image
from starlette.concurrency import run_in_threadpool

from backend.deps import ApiKeyDep, Services, ServicesDep, require_ready
from backend.errors import GenerationFailed, GenerationTimeout, NotFound
from backend.schemas import ImageData, ImageGenerationRequest, ImagesResponse
from backend.validation import GenerationParams, resolve_request
from backend.worker import GenerationResult

router = APIRouter()


def _encode(images: list[Image.Image]) -> list[ImageData]:
    out = []
    for image in images:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        out.append(ImageData(b64_json=base64.b64encode(buffer.getvalue()).decode("ascii")))
    return out


def _store(services: Services, images: list[Image.Image], base_url: str) -> list[ImageData]:
    return [
        ImageData(url=f"{base_url}/images/{services.images.save(image)}.png") for image in images
    ]


def _consume(future: asyncio.Future[GenerationResult]) -> None:
    # An abandoned job still ends (cancelled at its next step); read its outcome so asyncio
    # does not log "exception was never retrieved" for a result nobody waits for any more.
    if not future.cancelled():
        future.exception()


async def _run(services: Services, params: GenerationParams) -> GenerationResult:
    job = services.worker.submit(params)  # 429 when full
    timeout = services.settings.request_timeout
    outcome = asyncio.wrap_future(job.future)
    try:
        # shield: the timeout must not cancel the worker's future behind its back;
        # job.cancel() does that properly (and stops a running job at its next step).
        return await asyncio.wait_for(asyncio.shield(outcome), timeout)
    except TimeoutError:
        outcome.add_done_callback(_consume)
        job.cancel()
        services.metrics.failures.labels("timeout").inc()
        raise GenerationTimeout(
            f"the generation did not finish within {timeout:g} s (request {job.request_id})"
        ) from None
    except asyncio.CancelledError:
        outcome.add_done_callback(_consume)
        job.cancel()  # the request task was cancelled (shutdown): free the GPU at the next step
        raise
    except Exception as exc:
        services.metrics.failures.labels("error").inc()
        raise GenerationFailed(
            f"generation failed (request {job.request_id}): {type(exc).__name__}: {exc}"
        ) from exc


@router.post(
    "/v1/images/generations",
    response_model=ImagesResponse,
    response_model_exclude_none=True,
    summary="Create images from a prompt (OpenAI Images API)",
)
async def create_images(
    body: ImageGenerationRequest,
    request: Request,
    services: ServicesDep,
    _auth: ApiKeyDep,
) -> ImagesResponse:
    # Bad input is reported even while the model loads; readiness comes after validation.
    params = resolve_request(body, services.settings)
    require_ready(services)
    result = await _run(services, params)
    if params.response_format == "url":
        base = (services.settings.public_url or str(request.base_url)).rstrip("/")
        data = await run_in_threadpool(_store, services, result.images, base)
    else:
        data = await run_in_threadpool(_encode, result.images)
    return ImagesResponse(created=int(time.time()), data=data)


@router.get(
    "/images/{image_id}.png",
    response_class=FileResponse,
    summary="A stored image (from response_format=url)",
)
async def get_image(image_id: str, services: ServicesDep) -> FileResponse:
    path = services.images.path(image_id)
    if path is None:
        raise NotFound(f"image_id: {image_id!r} does not exist or has expired", param="image_id")
    return FileResponse(path, media_type="image/png")
