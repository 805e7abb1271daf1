"""The app factory: ``create_app(settings)`` builds one self-contained service instance."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from backend.deps import Services
from backend.errors import install_error_handlers
from backend.guard import RequestGuard
from backend.image_store import ImageStore
from backend.job_store import JobStore
from backend.metrics import Metrics, MetricsMiddleware
from backend.openapi import install_openapi
from backend.routes import health, images, jobs, models
from backend.runtime import ModelRuntime
from backend.settings import Settings
from backend.worker import GenerationWorker

log = logging.getLogger("backend")


def create_app(
    settings: Settings | None = None, *, on_load_failure: Callable[[str], None] | None = None
) -> FastAPI:
    """Build the service.

    Nothing heavy happens here: the lifespan starts the GPU worker and the background model
    load, so ``/healthz`` answers while a large model loads and ``/readyz`` turns 200 when it
    is done. ``on_load_failure(message)`` is called if the model cannot be loaded (the command
    line stops the server with it); the app itself then stays up answering 503 on ``/readyz``.
    Each app owns its metrics registry, queue and image store, so several can share a process.
    """
    settings = settings or Settings()
    metrics = Metrics(lease_path=settings.gpu_coord_path)
    runtime = ModelRuntime(settings, on_failure=on_load_failure)
    services = Services(
        settings=settings,
        metrics=metrics,
        runtime=runtime,
        worker=GenerationWorker(settings, runtime, metrics),
        images=ImageStore(settings.image_dir, settings.image_retention),
        jobs=JobStore(settings.job_retention, settings.job_history),
        started_at=int(time.time()),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.worker.start()
        runtime.start()
        log.info(
            "backend serving %s (queue %d, max_wait %s, flush %s)",
            settings.model,
            settings.queue_size,
            "none" if settings.max_wait is None else f"{settings.max_wait:g} s",
            settings.flush,
        )
        try:
            yield
        finally:
            services.worker.stop()
            runtime.close()

    app = FastAPI(
        title="Text-to-image backend",
        summary="OpenAI-compatible image generation that yields the GPU to nobody.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    # The last added runs first: metrics count the guard's refusals too.
    app.add_middleware(RequestGuard, settings=settings)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.include_router(images.router)
    app.include_router(jobs.router)
    app.include_router(models.router)
    app.include_router(health.router)
    install_openapi(app, settings)
    return app
