"""The routes: ``/v1/jobs`` (submit, list, show, logs, files, cancel), ``/v1/host``, health."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from jobs import views
from jobs.deps import ApiKeyDep, ServiceDep
from jobs.docker_job import LOG_NAME
from jobs.errors import InvalidField, NotFound
from jobs.spec import JobSpec
from jobs.store import STATUSES, UnknownJob

router = APIRouter()
MAX_PAGE = 200


@router.get("/healthz", summary="Liveness, and whether container jobs can run here")
async def healthz(service: ServiceDep) -> dict[str, Any]:
    return {
        "status": "ok",
        "docker": service.client is not None,
        "docker_error": service.engine_error,
    }


@router.get("/v1/host", summary="What this host has and what running jobs were given")
async def host(service: ServiceDep, _: ApiKeyDep) -> dict[str, Any]:
    measured = await run_in_threadpool(service.host)
    return measured.as_dict()


@router.post("/v1/jobs", status_code=201, summary="Submit a job")
async def submit(spec: JobSpec, service: ServiceDep, _: ApiKeyDep) -> JSONResponse:
    record, position = await run_in_threadpool(service.submit, spec)
    body = {"id": record.id, "status": record.status, "queue_position": position}
    return JSONResponse(body, status_code=201, headers={"Location": f"/v1/jobs/{record.id}"})


@router.get("/v1/jobs", summary="Jobs, newest first")
async def list_jobs(
    service: ServiceDep,
    _: ApiKeyDep,
    status: Annotated[str | None, Query()] = None,
    name: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    if status is not None and status not in STATUSES:
        raise InvalidField(
            f"status: {status!r} is not a job status (one of {', '.join(STATUSES)})",
            param="status",
        )
    records, total = service.store.page(status=status, name=name, limit=limit, offset=offset)
    return {
        "data": [views.summary(r, service.queue_position(r.id)) for r in records],
        "total": total,
        "limit": limit,
        "offset": offset,
        "has_more": offset + len(records) < total,
    }


@router.get("/v1/jobs/{job_id}", summary="One job in full")
async def show(job_id: str, service: ServiceDep, _: ApiKeyDep) -> dict[str, Any]:
    record = service.get(job_id)
    baseline = None
    if record.spec.get("baseline"):
        try:
            baseline = service.store.get(record.spec["baseline"])
        except UnknownJob:
            baseline = None
    return views.detail(record, service.queue_position(job_id), service.folder(job_id), baseline)


@router.delete("/v1/jobs/{job_id}", summary="Cancel: drop a queued job, kill a running one")
async def cancel(job_id: str, service: ServiceDep, _: ApiKeyDep) -> dict[str, Any]:
    record = await run_in_threadpool(service.cancel, job_id)
    return views.summary(record, None)


@router.get("/v1/jobs/{job_id}/logs", summary="The job's log; streamed while it runs")
async def logs(
    job_id: str,
    service: ServiceDep,
    _: ApiKeyDep,
    follow: Annotated[bool, Query()] = True,
) -> StreamingResponse:
    service.get(job_id)
    path = service.folder(job_id) / "output" / LOG_NAME

    async def body() -> AsyncIterator[bytes]:
        offset = 0
        while True:
            # Read what is there, then stop once the job has ended and nothing more comes.
            finished = service.get(job_id).terminal and not service.active(job_id)
            if path.is_file():
                with open(path, "rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read()
                if chunk:
                    offset += len(chunk)
                    yield chunk
                    continue
            if finished or not follow:
                return
            await asyncio.sleep(0.25)

    return StreamingResponse(body(), media_type="text/plain; charset=utf-8")


@router.get("/v1/jobs/{job_id}/files/{file_path:path}", summary="One file of the job's output")
async def output_file(
    job_id: str, file_path: str, service: ServiceDep, _: ApiKeyDep
) -> FileResponse:
    service.get(job_id)
    output = (service.folder(job_id) / "output").resolve()
    target = (output / file_path).resolve()
    # resolve() follows symlinks: a link the job made to /etc/passwd lands outside and is refused.
    if not target.is_relative_to(output) or "\x00" in file_path:
        raise NotFound(f"{file_path!r} is not in job {job_id}'s output folder")
    if not target.is_file():
        raise NotFound(f"job {job_id} has no output file {file_path!r}")
    return FileResponse(Path(target))
