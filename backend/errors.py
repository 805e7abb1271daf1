"""Errors in the OpenAI envelope: ``{"error": {"message", "type", "param", "code"}}``.

Every error the service returns goes through here, FastAPI's own validation errors and
malformed JSON included, so a client only ever has to parse one shape.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("backend")


class APIError(Exception):
    """An error with an HTTP status, rendered in the OpenAI envelope.

    ``param`` names the request field at fault (``None`` when no single field is).
    """

    status_code = 500
    error_type = "server_error"
    code: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.headers = headers or {}


class InvalidRequest(APIError):
    """400: the request is well formed but a field's value is not acceptable."""

    status_code = 400
    error_type = "invalid_request_error"
    code = "invalid_value"


class Unauthorized(APIError):
    """401: an API key is configured and the request did not present it."""

    status_code = 401
    error_type = "invalid_request_error"
    code = "invalid_api_key"


class NotFound(APIError):
    """404: no such image, model or route."""

    status_code = 404
    error_type = "invalid_request_error"
    code = "not_found"


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


def envelope(
    message: str, error_type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """The OpenAI error body."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def _field_path(loc: Sequence[int | str]) -> str | None:
    # FastAPI prefixes the location with where it came from ("body", "query", ...); the client
    # only knows the field, so drop that prefix and join nested parts with dots.
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    return ".".join(parts) or None


def _validation_response(exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    if not errors:
        return JSONResponse(
            envelope("invalid request", "invalid_request_error", None, "invalid_body"), 400
        )
    first = errors[0]
    if first.get("type") == "json_invalid":
        detail = first.get("ctx", {}).get("error", "")
        message = f"request body is not valid JSON: {detail}".rstrip(": ")
        return JSONResponse(
            envelope(message, "invalid_request_error", None, "invalid_json"), status_code=400
        )
    param = _field_path(first.get("loc", ()))
    reason = str(first.get("msg", "invalid value"))
    message = f"request body: {reason}" if param is None else f"{param}: {reason}"
    if len(errors) > 1:
        others = ", ".join(sorted({p for e in errors[1:] if (p := _field_path(e["loc"]))}))
        if others:
            message += f" (also invalid: {others})"
    # A fault in the body as a whole (not an object, missing) has no field to name.
    code = "invalid_body" if param is None else "invalid_value"
    return JSONResponse(envelope(message, "invalid_request_error", param, code), status_code=400)


async def _handle_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, APIError)
    return JSONResponse(
        envelope(exc.message, exc.error_type, exc.param, exc.code),
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _handle_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return _validation_response(exc)


async def _handle_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error_type = "invalid_request_error" if exc.status_code < 500 else "server_error"
    code = {404: "not_found", 405: "method_not_allowed"}.get(
        exc.status_code, f"http_{exc.status_code}"
    )
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    if exc.status_code == 404:
        detail = f"no route {request.method} {request.url.path}"
    headers = dict(getattr(exc, "headers", None) or {})
    allowed = _allowed(request) if exc.status_code == 405 else []
    if allowed:
        headers["Allow"] = ", ".join(allowed)
    return JSONResponse(
        envelope(detail, error_type, None, code),
        status_code=exc.status_code,
        headers=headers,
    )


def _allowed(request: Request) -> list[str]:
    # Starlette's 405 names the methods of the first route on the path only; a path served by
    # several routes (one per method) allows all of theirs, as the OpenAPI document lists them.
    methods: set[str] = set()
    paths: dict[str, dict[str, Any]] = request.app.openapi().get("paths", {})
    for template, operations in paths.items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, request.url.path):
            methods |= {method.upper() for method in operations}
    if "GET" in methods:
        methods.add("HEAD")  # Starlette answers HEAD wherever it answers GET
    return sorted(methods)


async def _handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The traceback goes to the log, not to the client.
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(
        envelope(f"internal error: {type(exc).__name__}", "server_error", None, "internal_error"),
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Route every error the app can raise through the OpenAI envelope."""
    app.add_exception_handler(APIError, _handle_api_error)
    app.add_exception_handler(RequestValidationError, _handle_validation)
    app.add_exception_handler(StarletteHTTPException, _handle_http)
    app.add_exception_handler(Exception, _handle_unexpected)
