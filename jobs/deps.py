"""FastAPI dependencies and their ``Annotated`` aliases; routes stay thin by declaring these."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request

from jobs.errors import Unauthorized
from jobs.service import JobService


def get_service(request: Request) -> JobService:
    service: JobService = request.app.state.service
    return service


ServiceDep = Annotated[JobService, Depends(get_service)]


def require_api_key(request: Request, service: ServiceDep) -> None:
    """With ``JOBS_API_KEY`` set, demand ``Authorization: Bearer <key>``; else let all in."""
    key = service.settings.api_key
    if key is None:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(
        token.strip().encode(), key.get_secret_value().encode()
    ):
        raise Unauthorized(
            "missing or wrong API key: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


ApiKeyDep = Annotated[None, Depends(require_api_key)]
