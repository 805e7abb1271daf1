"""servekit: what the project's HTTP services share.

The error envelope (``{"error": {"message", "type", "param", "code"}}``), the base error type
and the handlers that route every failure through it, and the bearer API-key check. The
backend and the jobs service never import each other; both import this, and it imports
nothing of the project.
"""

from __future__ import annotations

from servekit.auth import bearer_matches
from servekit.errors import (
    APIError,
    NotFound,
    Unauthorized,
    envelope,
    error_response,
    install_error_handlers,
)

__all__ = [
    "APIError",
    "NotFound",
    "Unauthorized",
    "bearer_matches",
    "envelope",
    "error_response",
    "install_error_handlers",
]
