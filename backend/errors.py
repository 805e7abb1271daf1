"""Errors in the OpenAI envelope: ``{"error": {"message", "type", "param", "code"}}``.

Every error the service returns goes through here, FastAPI's own validation errors and
malformed JSON included, so a client only ever has to parse one shape. The envelope, the base
type, 401/404 and the handlers are :mod:`servekit`'s (shared with the jobs service); here are
the backend's own errors, and a field that fails validation is a 400.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI

from servekit import APIError, NotFound, Unauthorized, envelope, error_response
from servekit import install_error_handlers as _install

__all__ = [
    "APIError",
    "ClientGone",
    "GenerationFailed",
    "GenerationTimeout",
    "GpuOutOfMemory",
    "InvalidRequest",
    "NotFound",
    "NotReady",
    "PayloadTooLarge",
    "QueueFull",
    "RequestTimeout",
    "ShuttingDown",
    "Unauthorized",
    "envelope",
    "error_response",
    "install_error_handlers",
]

log = logging.getLogger("backend")


class InvalidRequest(APIError):
    """400: the request is well formed but a field's value is not acceptable."""

    status_code = 400
    error_type = "invalid_request_error"
    code = "invalid_value"


class PayloadTooLarge(APIError):
    """413: the request body is larger than ``BACKEND_MAX_BODY_BYTES``."""

    status_code = 413
    error_type = "invalid_request_error"
    code = "body_too_large"


class RequestTimeout(APIError):
    """408: the client did not send its request body within ``BACKEND_READ_TIMEOUT``."""

    status_code = 408
    error_type = "invalid_request_error"
    code = "request_timeout"


class QueueFull(APIError):
    """429: the generation queue is full; ``Retry-After`` says when to try again."""

    status_code = 429
    error_type = "rate_limit_error"
    code = "queue_full"


class GenerationFailed(APIError):
    """500: the pipeline raised while generating."""

    status_code = 500
    error_type = "server_error"
    code = "generation_failed"


class NotReady(APIError):
    """503: the model is still loading (or failed to load)."""

    status_code = 503
    error_type = "server_error"
    code = "model_not_ready"


class ShuttingDown(APIError):
    """503: the service is stopping; queued generations are failed rather than left waiting."""

    status_code = 503
    error_type = "server_error"
    code = "shutting_down"


class GpuOutOfMemory(APIError):
    """503: CUDA ran out of memory twice (after a flush); the message names what was needed
    and what the memory budget said was free."""

    status_code = 503
    error_type = "server_error"
    code = "gpu_out_of_memory"


class ClientGone(APIError):
    """499 (nginx's "client closed request"): the client disconnected; nobody reads this."""

    status_code = 499
    error_type = "invalid_request_error"
    code = "client_closed_request"


class GenerationTimeout(APIError):
    """504: the generation did not finish within the request timeout."""

    status_code = 504
    error_type = "server_error"
    code = "timeout"


def install_error_handlers(app: FastAPI) -> None:
    """Route every error the app can raise through the OpenAI envelope."""
    _install(app, logger=log, validation_status=400, body_code="invalid_body")
