"""The text-to-image backend: an OpenAI-compatible FastAPI service behind the GPU lease.

``create_app(settings)`` builds the app; ``python -m backend`` serves it. See
``docs/backend.md`` for the routes, settings and metrics.
"""

from __future__ import annotations

from backend.app import create_app
from backend.errors import (
    APIError,
    GenerationFailed,
    GenerationTimeout,
    InvalidRequest,
    NotFound,
    NotReady,
    PayloadTooLarge,
    QueueFull,
    RequestTimeout,
    ShuttingDown,
    Unauthorized,
)
from backend.settings import Settings

__all__ = [
    "APIError",
    "GenerationFailed",
    "GenerationTimeout",
    "InvalidRequest",
    "NotFound",
    "NotReady",
    "PayloadTooLarge",
    "QueueFull",
    "RequestTimeout",
    "Settings",
    "ShuttingDown",
    "Unauthorized",
    "create_app",
]
