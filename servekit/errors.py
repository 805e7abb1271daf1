"""The error envelope the project's HTTP services answer in (OpenAI's):
``{"error": {"message", "type", "param", "code"}}``.

One client parser serves the backend and the jobs service alike, so the envelope, the base
error type and the handlers that route every failure through it (FastAPI's validation errors,
malformed JSON, Starlette's 404/405 and any unexpected exception) live here once. What the
services legitimately differ in is a parameter of :func:`install_error_handlers`: the status
of a field error (400 in the backend, 422 in jobs), the code of a whole-body fault and the
logger the tracebacks go to. Each service keeps its own specific errors, subclassing
:class:`APIError`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class APIError(Exception):
    """An error with an HTTP status, rendered in the envelope.

    ``param`` names the request field at fault (``None`` when no single field is); ``code``
    overrides the class's code for this one error; ``headers`` go out with the response.
    """

    status_code = 500
    error_type = "server_error"
    code: str | None = "internal_error"

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


class Unauthorized(APIError):
    """401: an API key is configured and the request did not present it."""

    status_code = 401
    error_type = "invalid_request_error"
    code = "invalid_api_key"


class NotFound(APIError):
    """404: no such resource (an image, a model, a job, a file) or route."""

    status_code = 404
    error_type = "invalid_request_error"
    code = "not_found"


def envelope(
    message: str, error_type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """The error body every service answers with."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def error_response(exc: APIError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """``exc`` as a response: its status, the envelope, its headers (``headers`` on top)."""
    return JSONResponse(
        envelope(exc.message, exc.error_type, exc.param, exc.code),
        status_code=exc.status_code,
        headers={**exc.headers, **(headers or {})},
    )


def _field_path(loc: Sequence[int | str]) -> str | None:
    """The request field a validation error's location names, dotted (``None``: the body)."""
    # FastAPI prefixes where the value came from ("body", "query", ...); the client knows only
    # the field. Pydantic's union branch names ("function-before[...]") are noise too.
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    parts = [p for p in parts if not p.startswith(("function-", "constrained-"))]
    return ".".join(parts) or None


def _validation_response(
    exc: RequestValidationError, *, status_code: int, body_code: str
) -> JSONResponse:
    """A request that failed validation: malformed JSON is 400 ``invalid_json``; a field
    error is ``status_code`` naming the first field (and listing the others); a fault in the
    body as a whole (not an object, missing) has no field to name and carries ``body_code``."""
    errors = list(exc.errors())
    if not errors:
        return JSONResponse(
            envelope("invalid request", "invalid_request_error", None, body_code), status_code
        )
    first = errors[0]
    if first.get("type") == "json_invalid":
        detail = first.get("ctx", {}).get("error", "")
        message = f"request body is not valid JSON: {detail}".rstrip(": ")
        return JSONResponse(
            envelope(message, "invalid_request_error", None, "invalid_json"), status_code=400
        )
    param = _field_path(first.get("loc", ()))
    reason = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    message = f"request body: {reason}" if param is None else f"{param}: {reason}"
    if len(errors) > 1:
        others = ", ".join(sorted({p for e in errors[1:] if (p := _field_path(e["loc"]))}))
        if others:
            message += f" (also invalid: {others})"
    code = body_code if param is None else "invalid_value"
    return JSONResponse(
        envelope(message, "invalid_request_error", param, code), status_code=status_code
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


def _http_error_response(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Starlette's own HTTP errors (no route, wrong method) in the envelope; a 405 says in
    ``Allow`` every method the path takes."""
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
        envelope(detail, error_type, None, code), status_code=exc.status_code, headers=headers
    )


def install_error_handlers(
    app: FastAPI,
    *,
    logger: logging.Logger,
    validation_status: int,
    body_code: str = "invalid_body",
) -> None:
    """Route every error ``app`` can raise through the envelope.

    ``validation_status`` is the status of a field that fails validation, ``body_code`` the
    code of a body that fails as a whole; an unexpected exception is a 500 whose traceback
    goes to ``logger``, never to the client.
    """

    async def handle_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, APIError)
        return error_response(exc)

    async def handle_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return _validation_response(exc, status_code=validation_status, body_code=body_code)

    async def handle_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return _http_error_response(request, exc)

    async def handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            envelope(
                f"internal error: {type(exc).__name__}", "server_error", None, "internal_error"
            ),
            status_code=500,
        )

    app.add_exception_handler(APIError, handle_api_error)
    app.add_exception_handler(RequestValidationError, handle_validation)
    app.add_exception_handler(StarletteHTTPException, handle_http)
    app.add_exception_handler(Exception, handle_unexpected)
