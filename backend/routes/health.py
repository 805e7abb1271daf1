"""Probes and status: ``/healthz``, ``/readyz``, ``/gpu-status`` and ``/metrics``.

Open, except that ``BACKEND_PROTECT_STATUS`` puts ``/gpu-status`` and ``/metrics`` behind the
API key (:mod:`backend.guard`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from backend.deps import ServicesDep
from backend.gpu_status import gpu_status
from backend.runtime import ModelState
from backend.schemas import ReadyStatus

router = APIRouter()


@router.get("/healthz", summary="Liveness: the process answers (never touches the GPU)")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: 200 once the model is loaded, 503 before",
    response_model=ReadyStatus,
    responses={503: {"model": ReadyStatus, "description": "Loading, or the load failed"}},
)
async def readyz(services: ServicesDep) -> JSONResponse:
    runtime = services.runtime
    body: dict[str, Any] = {
        "status": runtime.state.value,
        "model": services.settings.model,
        "queue_depth": services.worker.depth,
    }
    if runtime.state is ModelState.READY and runtime.loaded is not None:
        body.update(device=runtime.loaded.device, dtype=str(runtime.loaded.dtype))
        return JSONResponse(body)
    if runtime.error:
        body["error"] = runtime.error
    return JSONResponse(body, status_code=503)


@router.get("/gpu-status", summary="Who holds the GPU: the lease record, waiters, GPU memory")
async def get_gpu_status(services: ServicesDep) -> dict[str, Any]:
    # File locks and NVML calls block; keep them off the event loop.
    return await run_in_threadpool(gpu_status, services.settings)


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=PlainTextResponse,
)
async def metrics(services: ServicesDep) -> Response:
    services.metrics.model_ready.set(1.0 if services.runtime.ready else 0.0)
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
