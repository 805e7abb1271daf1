"""A job's events as Server-Sent Events, the format a browser's ``EventSource`` reads.

Each event is ``id: <seq>``, ``event: <kind>`` and one ``data:`` line of JSON. A stream replays
the job's events from the first (or from after ``Last-Event-ID`` when the browser reconnects),
then follows it live, and ends after the job's last event (``done``, ``failed`` or
``cancelled``). A reconnect after that last event is answered 204, which tells
``EventSource`` to stop reconnecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

from backend.job import Job, JobEvent

#: Seconds between comment lines on a quiet stream: proxies keep it open, and a client that
#: left is noticed at the latest then.
KEEPALIVE_SECONDS = 15.0
#: What EventSource waits before reconnecting after a dropped connection (milliseconds).
RETRY_MS = 2000


def format_event(job: Job, event: JobEvent) -> str:
    data = json.dumps({"id": job.request_id, **event.data}, separators=(",", ":"))
    return f"id: {event.seq}\nevent: {event.kind}\ndata: {data}\n\n"


def resume_point(last_event_id: str | None) -> int:
    """The sequence number a reconnecting client saw last (0: from the start)."""
    if last_event_id is None:
        return 0
    text = last_event_id.strip()
    # Anything else (or a number too long to be one of ours) is not a point we gave out.
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else 0


def nothing_left(job: Job, after: int) -> bool:
    """The job is over and the client saw its last event."""
    return job.finished and not job.events_after(after)


async def job_events(
    job: Job, after: int = 0, keepalive: float = KEEPALIVE_SECONDS
) -> AsyncIterator[str]:
    """The SSE text of ``job``'s events after ``after``, live until the job's last event."""
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()

    def notify() -> None:  # called from the worker thread
        with contextlib.suppress(RuntimeError):  # the loop already closed
            loop.call_soon_threadsafe(wake.set)

    job.listen(notify)
    try:
        yield f"retry: {RETRY_MS}\n\n"
        seen = after
        while True:
            wake.clear()
            finished = job.finished  # read before the events: the last event precedes it
            for event in job.events_after(seen):
                yield format_event(job, event)
                seen = event.seq
            if finished and not job.events_after(seen):
                return
            try:
                await asyncio.wait_for(wake.wait(), keepalive)
            except TimeoutError:
                yield ": keep-alive\n\n"
    finally:
        job.unlisten(notify)
