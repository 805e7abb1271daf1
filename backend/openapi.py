"""The OpenAPI document: what the service really answers, with the settings' real limits.

FastAPI's generated document lists a 422 the service never returns (validation errors are 400
in the error envelope), knows none of the other error statuses, calls ``/metrics`` JSON and
has no idea of the limits that come from the settings. :func:`install_openapi` fixes all that,
so a client generator (or schemathesis) sees the API as it is.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from backend.guard import needs_key
from backend.settings import Settings
from backend.validation import NEGATIVE_PATTERN, PROMPT_PATTERN, size_pattern


class ErrorDetail(BaseModel):
    """The OpenAI error object: ``param`` names the field at fault, ``code`` is never null."""

    message: str
    type: str
    param: str | None
    code: str


class ErrorEnvelope(BaseModel):
    """Every error answer: ``{"error": {...}}``."""

    error: ErrorDetail


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds until the queue has drained (429) or the model is loaded (503)",
        "schema": {"type": "integer", "minimum": 1},
        "required": False,
    }
}


def _error(description: str, **extra: Any) -> dict[str, Any]:
    return {"model": ErrorEnvelope, "description": description, **extra}


GENERATION_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("A field's value is not acceptable (param names it) or the body is not JSON"),
    404: _error("The model asked for is not served here (code model_not_found)"),
    408: _error("The request body did not arrive within BACKEND_READ_TIMEOUT"),
    413: _error("The request body is over BACKEND_MAX_BODY_BYTES"),
    429: _error("The generation queue is full", headers=_RETRY_AFTER),
    500: _error("The pipeline failed while generating"),
    503: _error(
        "The model is loading or failed to load, the service is stopping, or the GPU ran out "
        "of memory (code gpu_out_of_memory, after a flush and a retry)",
        headers=_RETRY_AFTER,
    ),
    504: _error("The generation did not finish within BACKEND_REQUEST_TIMEOUT"),
}
# A background job is only queued here: it cannot fail, time out or run out of memory yet.
JOB_SUBMIT_ERRORS: dict[int | str, dict[str, Any]] = {
    status: answer for status, answer in GENERATION_ERRORS.items() if status not in (500, 504)
}
JOB_SUBMIT_ERRORS[503] = _error(
    "The model is loading or failed to load, or the service is stopping", headers=_RETRY_AFTER
)
JOB_ERRORS: dict[int | str, dict[str, Any]] = {
    404: _error("No such job, or it finished longer ago than BACKEND_JOB_RETENTION")
}
JOB_LIST_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("A query parameter is out of range (param names it)")
}
MODEL_ERRORS: dict[int | str, dict[str, Any]] = {404: _error("No such model here")}
IMAGE_ERRORS: dict[int | str, dict[str, Any]] = {404: _error("No such image, or it expired")}


def _constrain(prop: dict[str, Any], **constraints: Any) -> None:
    # An optional field is anyOf [its type, null]: the constraints belong to the non-null branch.
    for branch in prop.get("anyOf", [prop]):
        if branch.get("type") != "null":
            branch.update(constraints)


def _request_limits(schema: dict[str, Any], settings: Settings) -> None:
    props = schema["components"]["schemas"]["ImageGenerationRequest"]["properties"]
    chars = settings.max_prompt_chars
    _constrain(props["prompt"], minLength=1, maxLength=chars, pattern=PROMPT_PATTERN)
    _constrain(props["negative_prompt"], maxLength=chars, pattern=NEGATIVE_PATTERN)
    _constrain(props["n"], minimum=1, maximum=settings.max_n)
    _constrain(props["num_inference_steps"], minimum=1, maximum=settings.max_steps)
    _constrain(props["size"], pattern=size_pattern(settings.min_size, settings.max_size))
    _constrain(props["model"], enum=sorted({settings.served_model_name, settings.model}))


def _fix_responses(schema: dict[str, Any], settings: Settings) -> None:
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            responses = operation["responses"]
            responses.pop("422", None)
            if needs_key(path, settings):
                operation["security"] = [{"bearer": []}]
                responses["401"] = {
                    "description": "Missing or wrong API key",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/ErrorEnvelope"}
                        }
                    },
                }
    metrics = schema["paths"]["/metrics"]["get"]["responses"]["200"]
    metrics["content"] = {"text/plain": {"schema": {"type": "string"}}}
    components = schema["components"]["schemas"]
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    if settings.api_key is not None:
        schema["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}


def install_openapi(app: FastAPI, settings: Settings) -> None:
    """Make ``app.openapi()`` return the corrected document (built once, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            _request_limits(schema, settings)
            _fix_responses(schema, settings)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
