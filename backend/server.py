"""The uvicorn server the backend runs in: a header read timeout and a bounded SIGTERM drain.

uvicorn times out idle keep-alive connections but not a client that opens a connection and
sends its headers a byte at a time; :class:`_HeaderTimeoutProtocol` closes such a connection
after ``BACKEND_READ_TIMEOUT`` (the body is timed by :mod:`backend.guard`). On SIGTERM (or
Ctrl-C) :class:`BackendServer` first tells the worker to fail its queued jobs with 503 and to
stop the running one after ``BACKEND_SHUTDOWN_GRACE`` seconds, then lets uvicorn shut down,
waiting no longer than that grace (plus a moment to send the last answers).
"""

from __future__ import annotations

import asyncio
import math
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from backend.deps import Services

# Time for the answers of the stopped jobs to reach their clients after the grace.
_SEND_MARGIN = 2.0


class _HeaderTimeoutProtocol(HttpToolsProtocol):
    """Closes a connection whose request headers do not arrive within ``header_timeout``."""

    header_timeout = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()  # the next request on a kept-alive connection gets its own allowance

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


class BackendServer(uvicorn.Server):
    """uvicorn, with the worker told first when a signal asks the process to stop."""

    def __init__(self, config: uvicorn.Config, services: Services) -> None:
        super().__init__(config)
        self.services = services

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            self.services.worker.begin_shutdown(self.services.settings.shutdown_grace)
        super().handle_exit(sig, frame)


def make_server(
    app: FastAPI, *, host: str | None = None, port: int | None = None, log_level: str | None = None
) -> BackendServer:
    """The server for ``app`` (built by :func:`backend.create_app`), on its settings' address."""
    services: Services = app.state.services
    settings = services.settings
    protocol = type(
        "HeaderTimeoutProtocol",
        (_HeaderTimeoutProtocol,),
        {"header_timeout": settings.read_timeout},
    )
    config = uvicorn.Config(
        app,
        host=settings.host if host is None else host,
        port=settings.port if port is None else port,
        log_level=settings.log_level if log_level is None else log_level,
        http=protocol,
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace + _SEND_MARGIN),
    )
    return BackendServer(config, services)
