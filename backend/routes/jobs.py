"""Background generations: submit, list, read, follow (Server-Sent Events) and cancel.

They share the one queue with ``POST /v1/images/generations``, whose requests are listed here
too (``background: false``) while they wait or run.
"""

from __future__ import annotations

import functools
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response, StreamingResponse

from backend.delivery import deliver
from backend.deps import Services, ServicesDep, require_ready
from backend.errors import NotFound
from backend.job import Job, JobStatus, describe_error
from backend.openapi import JOB_ERRORS, JOB_LIST_ERRORS, JOB_SUBMIT_ERRORS
from backend.schemas import (
    ImageGenerationRequest,
    ImagesResponse,
    JobCreated,
    JobError,
    JobInfo,
    JobList,
    JobState,
)
from backend.sse import job_events, nothing_left, resume_point
from backend.validation import check_work, resolve_request

router = APIRouter()

MAX_PAGE = 100
EVENT_KINDS = ["queued", "position", "running", "lease", "step", "retry", "done", "failed"]
# One event of the stream, as an EventSource sees it.
SSE_EVENT = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9]+$"},
        "event": {"type": "string", "enum": [*EVENT_KINDS, "cancelled"]},
        "data": {"type": "string", "contentMediaType": "application/json"},
        "retry": {"type": "integer"},
    },
}


def job_info(services: Services, job: Job, *, with_result: bool = False) -> JobInfo:
    """``job`` as the routes show it (its images only when asked and done)."""
    error = None
    if job.error is not None:
        error = JobError(**describe_error(job.error))
    result = None
    if with_result and job.status is JobStatus.SUCCEEDED and job.data is not None:
        result = ImagesResponse(created=int(job.finished_at or job.created), data=job.data)
    wait = job.lease_wait_so_far
    return JobInfo(
        id=job.request_id,
        status=job.status.value,
        background=job.background,
        created=int(job.created),
        queue_position=job.queue_position,
        step=job.step,
        steps=job.steps,
        progress=round(job.step / job.steps, 4) if job.steps else 0.0,
        eta_seconds=services.worker.eta_seconds(job),
        lease_wait_seconds=None if wait is None else round(wait, 4),
        forced=job.forced,
        cancel_requested=job.cancelled,
        finished_at=job.finished_at,
        error=error,
        result=result,
    )


def _find(services: Services, job_id: str) -> Job:
    job = services.jobs.get(job_id)
    if job is None:
        raise NotFound(
            f"job_id: {job_id!r} does not exist or has expired "
            f"(finished jobs are kept {services.settings.job_retention:g} s)",
            param="job_id",
            code="job_not_found",
        )
    return job


def _order(job: Job) -> tuple[int, float]:
    # Running first, then the queue in order, then the finished ones newest first.
    if job.status is JobStatus.RUNNING:
        return (0, 0.0)
    if job.status is JobStatus.QUEUED:
        return (1, float(job.queue_position or 0))
    return (2, -(job.finished_at or 0.0))


@router.post(
    "/v1/images/jobs",
    status_code=202,
    response_model=JobCreated,
    summary="Queue a generation in the background (same body as /v1/images/generations)",
    responses=JOB_SUBMIT_ERRORS,
)
async def submit_job(
    body: ImageGenerationRequest, request: Request, services: ServicesDep
) -> JobCreated:
    resolved = resolve_request(body, services.settings)
    runtime = require_ready(services)
    assert runtime.loaded is not None
    check_work(resolved.generation, runtime.loaded, services.settings)
    base = (services.settings.public_url or str(request.base_url)).rstrip("/")
    delivery = functools.partial(
        deliver, response_format=resolved.response_format, store=services.images, base_url=base
    )
    job = services.worker.submit(resolved.generation, background=True, deliver=delivery)
    services.jobs.add(job)
    return JobCreated(id=job.request_id, status=job.status.value, queue_position=job.queue_position)


@router.get(
    "/v1/images/jobs",
    response_model=JobList,
    summary="Queued, running and recently finished jobs, a page at a time",
    responses=JOB_LIST_ERRORS,
)
async def list_jobs(
    services: ServicesDep,
    status: Annotated[JobState | None, Query(description="Only jobs in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> JobList:
    jobs = sorted(services.jobs.jobs(), key=_order)
    if status is not None:
        jobs = [job for job in jobs if job.status.value == status]
    page = jobs[offset : offset + limit]
    return JobList(
        data=[job_info(services, job) for job in page],
        total=len(jobs),
        has_more=offset + limit < len(jobs),
        queue_depth=services.worker.depth,
    )


@router.get(
    "/v1/images/jobs/{job_id}",
    response_model=JobInfo,
    response_model_exclude_none=False,
    summary="A job's status, queue position, progress and, once done, its images",
    responses=JOB_ERRORS,
)
async def get_job(job_id: str, services: ServicesDep) -> JobInfo:
    return job_info(services, _find(services, job_id), with_result=True)


@router.get(
    "/v1/images/jobs/{job_id}/events",
    response_class=StreamingResponse,
    summary="A job's events as Server-Sent Events (EventSource)",
    responses={
        200: {
            "content": {"text/event-stream": {"schema": SSE_EVENT}},
            "description": "queued, position, running, lease, step, retry, then done, failed "
            "or cancelled; each `data` is one JSON object",
        },
        204: {"description": "The job is over and Last-Event-ID was its last event"},
        **JOB_ERRORS,
    },
)
async def job_event_stream(
    job_id: str,
    services: ServicesDep,
    last_event_id: Annotated[str | None, Header()] = None,
    access_token: Annotated[
        str | None,
        Query(description="The API key, for EventSource (which cannot send headers)"),
    ] = None,
) -> Response:
    del access_token  # checked by the request guard, before the app
    job = _find(services, job_id)
    after = resume_point(last_event_id)
    if last_event_id is not None and nothing_left(job, after):
        return Response(status_code=204)
    return StreamingResponse(
        job_events(job, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.delete(
    "/v1/images/jobs/{job_id}",
    response_model=JobInfo,
    summary="Cancel and forget a job: a queued one is dropped, a running one stops at its "
    "next step; then it is gone (404)",
    responses=JOB_ERRORS,
)
async def cancel_job(job_id: str, services: ServicesDep) -> JobInfo:
    job = _find(services, job_id)
    if not job.finished:
        services.metrics.failures.labels("cancelled").inc()
        services.worker.cancel(job)
    # Gone from now on; a stream already open still gets the job's last event.
    services.jobs.forget(job_id)
    return job_info(services, job)
