"""The HTTP routes, one module per concern."""

from __future__ import annotations

from backend.routes import health, images, jobs, models

__all__ = ["health", "images", "jobs", "models"]
