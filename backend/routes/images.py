"""``POST /v1/images/generations`` and ``GET /images/{id}.png``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from backend.delivery import deliver
from backend.deps import Services, ServicesDep, require_ready
from backend.errors import (
    APIError,
    ClientGone,
    GenerationFailed,
    GenerationTimeout,
    NotFound,
)
from backend.job import GenerationResult, Job
from backend.openapi import GENERATION_ERRORS, IMAGE_ERRORS
from backend.schemas import ImageGenerationRequest, ImagesResponse
from backend.validation import check_work, resolve_request

router = APIRouter()


def _consume(future: asyncio.Future[GenerationResult]) -> None:
    # An abandoned job still ends (cancelled at its next step); read its outcome so asyncio
    # does not log "exception was never retrieved" for a result nobody waits for any more.
    if not future.cancelled():
        future.exception()


async def _disconnected(request: Request) -> None:
    """Return when the client closes the connection.

    The body has been read by now, so the server's next message is ``http.disconnect``: sent
    when the client goes away (or once the response is complete, when nobody waits here).
    """
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _abandon(services: Services, job: Job, outcome: asyncio.Future[GenerationResult]) -> None:
    outcome.add_done_callback(_consume)
    services.worker.cancel(job)  # out of the queue now, or stopped at its next step


async def _run(services: Services, request: Request, job: Job) -> GenerationResult:
    timeout = services.settings.request_timeout
    outcome = asyncio.wrap_future(job.future)
    gone: asyncio.Future[None] = asyncio.ensure_future(_disconnected(request))
    waiting: set[asyncio.Future[Any]] = {outcome, gone}
    try:
        done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        _abandon(services, job, outcome)  # the request task was cancelled (shutdown)
        raise
    finally:
        gone.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gone
    if outcome in done:
        try:
            return outcome.result()
        except APIError:
            raise  # already the answer: shutting down, out of GPU memory
        except Exception as exc:
            services.metrics.failures.labels("error").inc()
            raise GenerationFailed(
                f"generation failed (request {job.request_id}): {type(exc).__name__}: {exc}"
            ) from exc
    _abandon(services, job, outcome)
    if gone in done:
        services.metrics.failures.labels("disconnect").inc()
        raise ClientGone(f"request {job.request_id}: the client disconnected")
    services.metrics.failures.labels("timeout").inc()
    raise GenerationTimeout(
        f"the generation did not finish within {timeout:g} s (request {job.request_id})"
    )


@router.post(
    "/v1/images/generations",
    response_model=ImagesResponse,
    response_model_exclude_none=True,
    summary="Create images from a prompt (OpenAI Images API)",
    responses=GENERATION_ERRORS,
)
async def create_images(
    body: ImageGenerationRequest, request: Request, services: ServicesDep
) -> ImagesResponse:
    # Bad input is reported even while the model loads; readiness comes after validation.
    resolved = resolve_request(body, services.settings)
    runtime = require_ready(services)
    assert runtime.loaded is not None
    check_work(resolved.generation, runtime.loaded, services.settings)
    job = services.worker.submit(resolved.generation)  # 429 when full, 503 when stopping
    services.jobs.add(job)  # listed with its queue position while it waits and runs
    result = await _run(services, request, job)
    base = (services.settings.public_url or str(request.base_url)).rstrip("/")
    data = await run_in_threadpool(
        deliver, result.images, resolved.response_format, services.images, base
    )
    return ImagesResponse(created=int(time.time()), data=data)


@router.get(
    "/images/{image_id}.png",
    response_class=Response,
    summary="A stored image (from response_format=url)",
    responses={200: {"content": {"image/png": {}}, "description": "The PNG"}, **IMAGE_ERRORS},
)
async def get_image(image_id: str, services: ServicesDep) -> Response:
    data = await run_in_threadpool(services.images.read, image_id)
    if data is None:
        raise NotFound(f"image_id: {image_id!r} does not exist or has expired", param="image_id")
    return Response(data, media_type="image/png")
