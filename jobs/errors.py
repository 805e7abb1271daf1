"""Errors in the backend's envelope: ``{"error": {"message", "type", "param", "code"}}``.

The jobs service answers in the same shape as the text-to-image backend (the OpenAI error
envelope), so one client parser serves both; the type lives here because the services never
import each other. Field errors are 422 (naming the field and what was expected), malformed
JSON is 400, and every unexpected error is logged and answered without its traceback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("jobs")


class APIError(Exception):
    """An error with an HTTP status; ``param`` names the request field at fault, if one is."""

    status_code = 500
    error_type = "server_error"
    code: str | None = None

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


class Unauthorized(APIError):
    """401: an API key is configured and the request did not present it."""

    status_code = 401
    error_type = "invalid_request_error"
    code = "invalid_api_key"


class NotFound(APIError):
    """404: no such job, file or route."""

    status_code = 404
    error_type = "invalid_request_error"
    code = "not_found"


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


def envelope(
    message: str, error_type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """The error body shared with the backend."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def _field_path(loc: Sequence[int | str]) -> str | None:
    # FastAPI prefixes where the value came from ("body", "query", ...); the client knows only
    # the field. Pydantic's union branch names ("function-before[...]") are noise too.
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    parts = [p for p in parts if not p.startswith(("function-", "constrained-"))]
    return ".".join(parts) or None


def _validation_response(exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    if not errors:
        return JSONResponse(envelope("invalid request", "invalid_request_error"), 422)
    first = errors[0]
    if first.get("type") == "json_invalid":
        detail = first.get("ctx", {}).get("error", "")
        message = f"request body is not valid JSON: {detail}".rstrip(": ")
        return JSONResponse(envelope(message, "invalid_request_error", None, "invalid_json"), 400)
    param = _field_path(first.get("loc", ()))
    reason = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    message = f"request body: {reason}" if param is None else f"{param}: {reason}"
    if len(errors) > 1:
        others = ", ".join(sorted({p for e in errors[1:] if (p := _field_path(e["loc"]))}))
        if others:
            message += f" (also invalid: {others})"
    return JSONResponse(
        envelope(message, "invalid_request_error", param, "invalid_value"), status_code=422
    )


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
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    if exc.status_code == 404:
        detail = f"no route {request.method} {request.url.path}"
    return JSONResponse(
        envelope(detail, error_type, None, code),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(
        envelope(f"internal error: {type(exc).__name__}", "server_error", None, "internal_error"),
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Route every error the app can raise through the envelope."""
    app.add_exception_handler(APIError, _handle_api_error)
    app.add_exception_handler(RequestValidationError, _handle_validation)
    app.add_exception_handler(StarletteHTTPException, _handle_http)
    app.add_exception_handler(Exception, _handle_unexpected)
