"""The HTTP routes, one module per concern."""

from __future__ import annotations

from backend.routes import health, images, models

__all__ = ["health", "images", "models"]
