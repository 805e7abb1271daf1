"""The request guard: the API key, the body cap and the body read timeout, before any parsing.

A pure ASGI middleware, so a refused request costs a header check: the key is checked before a
byte of the body is read, a declared ``Content-Length`` over the cap is refused at once, and
the body is then read whole (it is small: a JSON prompt) within ``BACKEND_READ_TIMEOUT`` and
the cap, and replayed to the app. Headers that never finish are the server's to time out
(:mod:`backend.server`).
"""

from __future__ import annotations

import asyncio
import re
import time
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.errors import APIError, PayloadTooLarge, RequestTimeout, Unauthorized, error_response
from backend.settings import Settings
from servekit import bearer_matches

# What /gpu-status, /metrics and the docs reveal (host name, PIDs, owners, the model's path)
# is for operators; BACKEND_PROTECT_STATUS puts these behind the key as well.
STATUS_PATHS = ("/gpu-status", "/metrics", "/docs", "/redoc", "/openapi.json")


# A browser's EventSource cannot send an Authorization header: the events stream alone also
# takes the key as RFC 6750's ``access_token`` query parameter.
_EVENTS_PATH = re.compile(r"/v1/images/jobs/[^/]+/events")


def query_token(scope: Scope) -> str | None:
    """The ``access_token`` query parameter of a ``GET`` of a job's events stream, if any."""
    if scope.get("method") != "GET" or not _EVENTS_PATH.fullmatch(scope["path"]):
        return None
    query = scope.get("query_string", b"").decode("latin-1")
    values = parse_qs(query).get("access_token")
    return values[0] if values else None


def needs_key(path: str, settings: Settings) -> bool:
    """Whether ``path`` needs the API key under ``settings`` (never without a key set)."""
    if settings.api_key is None:
        return False
    if path.startswith("/v1/"):
        return True
    return settings.protect_status and path.startswith(STATUS_PATHS)


def key_presented(authorization: str, settings: Settings) -> bool:
    """``Authorization: Bearer <key>`` with the configured key (compared in constant time)."""
    if settings.api_key is None:
        return True
    return bearer_matches(authorization, settings.api_key.get_secret_value())


async def _answer(exc: APIError, scope: Scope, receive: Receive, send: Send) -> None:
    # Past a refusal other than the key's, the rest of the body is never read.
    headers = {} if isinstance(exc, Unauthorized) else {"Connection": "close"}
    await error_response(exc, headers)(scope, receive, send)


class RequestGuard:
    """Refuse, before parsing: a missing key (401), a body over the cap (413), a body that
    does not arrive within the read timeout (408)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        s = self.settings
        headers = Headers(scope=scope)
        authorization = headers.get("authorization", "")
        token = query_token(scope)
        if not authorization and token is not None:
            authorization = f"Bearer {token}"
        if needs_key(scope["path"], s) and not key_presented(authorization, s):
            await _answer(
                Unauthorized(
                    "missing or wrong API key: send 'Authorization: Bearer <key>'",
                    headers={"WWW-Authenticate": "Bearer"},
                ),
                scope,
                receive,
                send,
            )
            return
        declared = headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > s.max_body_bytes:
            await _answer(self._too_large(int(declared)), scope, receive, send)
            return
        try:
            body = await self._read_body(receive)
        except APIError as exc:
            await _answer(exc, scope, receive, send)
            return
        if body is None:
            return  # the client left while sending; nobody to answer
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: only http.disconnect

        await self.app(scope, replay, send)

    def _too_large(self, size: int) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"request body: {size} bytes or more, over the {self.settings.max_body_bytes} "
            "allowed (BACKEND_MAX_BODY_BYTES)"
        )

    async def _read_body(self, receive: Receive) -> bytes | None:
        limit, timeout = self.settings.max_body_bytes, self.settings.read_timeout
        deadline = time.monotonic() + timeout
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise RequestTimeout(
                    f"request body: not received within {timeout:g} s (BACKEND_READ_TIMEOUT)"
                ) from None
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise self._too_large(size)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
