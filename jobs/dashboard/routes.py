"""The dashboard's routes: the page (``GET /``), its assets, and the small JSON routes it polls.

The page and its assets are open (they hold no data); the JSON routes take the API key like
every other ``/v1`` route (the page asks for it once and keeps it in the browser).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from starlette.concurrency import run_in_threadpool

from jobs.dashboard.backend_view import BackendWatch
from jobs.dashboard.jobs_view import jobs_view
from jobs.dashboard.lease_view import lease_now, timeline
from jobs.dashboard.runner_view import image_file, runner_view
from jobs.deps import ApiKeyDep, ServiceDep
from jobs.errors import NotFound
from jobs.service import JobService

router = APIRouter()
STATIC = Path(__file__).parent / "static"
ASSETS = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}


def backend_watch(request: Request, service: JobService) -> BackendWatch:
    """The app's one watch on the backend (made on first use: it keeps the latency window)."""
    watch: BackendWatch | None = getattr(request.app.state, "backend_watch", None)
    if watch is None:
        key = service.settings.backend_api_key
        watch = BackendWatch(
            service.settings.backend_url, None if key is None else key.get_secret_value()
        )
        request.app.state.backend_watch = watch
    return watch


@router.get("/", response_class=HTMLResponse, summary="The dashboard: a live page of the host")
async def page() -> HTMLResponse:
    return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))


@router.get("/dashboard/{asset}", summary="The dashboard's script and style sheet")
async def asset(asset: str) -> FileResponse:
    if asset not in ASSETS:
        raise NotFound(f"the dashboard has no asset {asset!r}")
    return FileResponse(STATIC / asset, media_type=ASSETS[asset])


def _host_now(service: JobService) -> dict[str, Any]:
    settings = service.settings
    return {
        "lease": lease_now(settings.gpu_coord_path),
        "runner": runner_view(settings.results_dir),
        "jobs": jobs_view(service),
    }


@router.get("/v1/dashboard", summary="Everything the page shows now, but the timeline")
async def snapshot(request: Request, service: ServiceDep, _: ApiKeyDep) -> dict[str, Any]:
    now = await run_in_threadpool(_host_now, service)
    backend = await backend_watch(request, service).view()
    return {"now": time.time(), **now, "backend": backend}


@router.get("/v1/dashboard/timeline", summary="The lease's last hour: who held it when")
async def lease_timeline(
    service: ServiceDep,
    _: ApiKeyDep,
    device: Annotated[int, Query(ge=0, le=63)] = 0,
    since: Annotated[float | None, Query(description="Unix time: only what changed after")] = None,
) -> dict[str, Any]:
    return await run_in_threadpool(timeline, service.settings.gpu_coord_path, device, since)


@router.get("/v1/dashboard/runner/images/{image_path:path}", summary="One of the runner's images")
async def runner_image(image_path: str, service: ServiceDep, _: ApiKeyDep) -> FileResponse:
    found = image_file(service.settings.results_dir, image_path)
    if found is None:
        raise NotFound(f"{image_path!r} is not an image in the runner's results folder")
    return FileResponse(found)
