"""The app factory: ``create_app(settings)`` builds one self-contained jobs service."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from jobs.dashboard import router as dashboard_router
from jobs.errors import install_error_handlers
from jobs.routes import router
from jobs.service import JobService
from jobs.settings import Settings

log = logging.getLogger("jobs")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service; the lifespan connects to the engine, recovers, and schedules."""
    settings = settings or Settings()
    service = JobService(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()
        log.info(
            "jobs service: records in %s; %s",
            service.data_dir,
            "Docker engine connected" if service.client else service.engine_error,
        )
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(
        title="Jobs",
        summary="Research jobs in sandboxed containers, second to the backend on the GPU.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.service = service
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(dashboard_router)
    return app
