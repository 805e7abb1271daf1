"""FastAPI dependencies and their ``Annotated`` aliases; routes stay thin by declaring these."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from jobs.errors import Unauthorized
from jobs.service import JobService
from servekit import bearer_matches


def get_service(request: Request) -> JobService:
    service: JobService = request.app.state.service
    return service


ServiceDep = Annotated[JobService, Depends(get_service)]


def require_api_key(request: Request, service: ServiceDep) -> None:
    """With ``JOBS_API_KEY`` set, demand ``Authorization: Bearer <key>``; else let all in."""
    key = service.settings.api_key
    if key is None:
        return
    if not bearer_matches(request.headers.get("authorization", ""), key.get_secret_value()):
        raise Unauthorized(
            "missing or wrong API key: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


ApiKeyDep = Annotated[None, Depends(require_api_key)]
