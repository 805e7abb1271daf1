"""A small Server-Sent Events reader over real HTTP (httpx), parsing as EventSource does."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

TERMINAL = ("done", "failed", "cancelled")


@dataclass(frozen=True)
class SseEvent:
    id: str | None
    event: str
    data: dict[str, Any]


def parse(lines: list[str]) -> list[SseEvent]:
    """Events from SSE text lines (comments and ``retry:`` skipped)."""
    events: list[SseEvent] = []
    fields: dict[str, str] = {}
    for line in [*lines, ""]:
        if not line:
            if "data" in fields:
                events.append(
                    SseEvent(
                        fields.get("id"), fields.get("event", "message"), json.loads(fields["data"])
                    )
                )
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        fields[name] = value[1:] if value.startswith(" ") else value
    return events


def read_events(
    base_url: str,
    job_id: str,
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    timeout: float = 120.0,
) -> tuple[httpx.Response, list[SseEvent]]:
    """Read ``job_id``'s event stream until the server ends it (after the job's last event)."""
    lines: list[str] = []
    with (
        httpx.Client(base_url=base_url, timeout=timeout) as http,
        http.stream(
            "GET", f"/v1/images/jobs/{job_id}/events", headers=headers, params=params
        ) as response,
    ):
        if response.status_code == 200:
            lines.extend(response.iter_lines())
        else:
            response.read()
    return response, parse(lines)


class EventReader:
    """Reads a job's event stream on a thread, so a test can act while it listens."""

    def __init__(self, base_url: str, job_id: str, timeout: float = 120.0) -> None:
        self.events: list[SseEvent] = []
        self.status: int | None = None
        self._url, self._job_id, self._timeout = base_url, job_id, timeout
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with (
            httpx.Client(base_url=self._url, timeout=self._timeout) as http,
            http.stream("GET", f"/v1/images/jobs/{self._job_id}/events") as response,
        ):
            self.status = response.status_code
            block: list[str] = []
            for line in response.iter_lines():
                block.append(line)
                if not line:
                    self.events.extend(parse(block))
                    block = []

    def wait_for(self, kind: str, timeout: float = 60.0) -> SseEvent:
        """The first event named ``kind``, once it has arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in list(self.events):
                if event.event == kind:
                    return event
            time.sleep(0.01)
        raise AssertionError(f"no {kind!r} event; got {[e.event for e in self.events]}")

    def join(self, timeout: float = 60.0) -> list[SseEvent]:
        """Every event, once the server ended the stream."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the stream did not end"
        return self.events
