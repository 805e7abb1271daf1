"""FastAPI dependencies and their ``Annotated`` aliases; routes stay thin by declaring these.

The API key is not a dependency: :class:`backend.guard.RequestGuard` checks it before the body
is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from backend.errors import NotReady
from backend.image_store import ImageStore
from backend.job_store import JobStore
from backend.metrics import Metrics
from backend.runtime import ModelRuntime, ModelState
from backend.settings import Settings
from backend.worker import GenerationWorker


@dataclass
class Services:
    """Everything one app instance owns; stored on ``app.state.services``."""

    settings: Settings
    metrics: Metrics
    runtime: ModelRuntime
    worker: GenerationWorker
    images: ImageStore
    jobs: JobStore
    started_at: int


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_settings(services: ServicesDep) -> Settings:
    return services.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def require_ready(services: Services) -> ModelRuntime:
    """The runtime, once the model is loaded; 503 (``NotReady``) before that or after a failure.

    Called by the generation route after validating the body, so bad input is reported as
    such even while the model loads.
    """
    runtime = services.runtime
    if runtime.state is ModelState.FAILED:
        raise NotReady(f"the model failed to load: {runtime.error}")
    if not runtime.ready:
        raise NotReady(
            f"the model {services.settings.model!r} is still loading", headers={"Retry-After": "5"}
        )
    return runtime
