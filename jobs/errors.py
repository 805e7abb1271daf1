"""Errors in the backend's envelope: ``{"error": {"message", "type", "param", "code"}}``.

The jobs service answers in the same shape as the text-to-image backend (the OpenAI error
envelope), so one client parser serves both; the envelope, the base type, 401/404 and the
handlers are :mod:`servekit`'s, which both services import (they never import each other).
Here are the jobs service's own errors. Field errors are 422 (naming the field and what was
expected), malformed JSON is 400, and every unexpected error is logged and answered without
its traceback.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI

from servekit import APIError, NotFound, Unauthorized, envelope, error_response
from servekit import install_error_handlers as _install

__all__ = [
    "APIError",
    "Conflict",
    "InvalidField",
    "NeverFits",
    "NotFound",
    "Unauthorized",
    "Unavailable",
    "envelope",
    "error_response",
    "install_error_handlers",
]

log = logging.getLogger("jobs")


class InvalidField(APIError):
    """422: a field's value is not acceptable (a bad size, an unsafe path, a limit passed)."""

    status_code = 422
    error_type = "invalid_request_error"
    code = "invalid_value"


class NeverFits(APIError):
    """422: the job asks for more of a resource than this host has at all."""

    status_code = 422
    error_type = "invalid_request_error"
    code = "exceeds_host"


class Conflict(APIError):
    """409: the job is in a state that does not allow the request (cancel a finished job)."""

    status_code = 409
    error_type = "invalid_request_error"
    code = "conflict"


class Unavailable(APIError):
    """503: the service cannot run this kind of job here (no Docker engine, no GPU hold)."""

    status_code = 503
    error_type = "server_error"
    code = "unavailable"


def install_error_handlers(app: FastAPI) -> None:
    """Route every error the app can raise through the envelope."""
    _install(app, logger=log, validation_status=422, body_code="invalid_value")
