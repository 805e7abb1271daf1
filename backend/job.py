"""One generation in the queue: its request, its state, and the events it went through.

A :class:`Job` is written by the GPU worker thread and read by request handlers (the job
routes, the Server-Sent Events stream). Its events are numbered from 1 and kept for the job's
life (at most the queue's length of position changes plus its steps), so a stream that joins
late, or reconnects with ``Last-Event-ID``, replays what it missed.
"""

from __future__ import annotations

import enum
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from backend.errors import APIError
from imagegen import GenerationRequest


class GenerationCancelled(RuntimeError):
    """Raised from the step hook when the request that asked for the generation gave up."""


class JobStatus(enum.StrEnum):
    """``queued`` -> ``running`` -> ``succeeded``, ``failed`` or ``cancelled``."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


@dataclass(frozen=True)
class GenerationResult:
    """The images and how they were obtained."""

    images: list[Image.Image]
    lease_wait: float
    generation_seconds: float
    forced: bool
    lease_generation: int | None


@dataclass(frozen=True)
class JobEvent:
    """One thing that happened to a job: ``seq`` (from 1), its kind, its JSON data."""

    seq: int
    kind: str
    data: dict[str, Any]


def describe_error(error: BaseException) -> dict[str, Any]:
    """An error as the envelope's ``error`` object (``param`` None: no field was at fault)."""
    if isinstance(error, APIError):
        return {
            "message": error.message,
            "type": error.error_type,
            "param": None,
            "code": error.code,
        }
    if isinstance(error, GenerationCancelled):
        return {
            "message": str(error),
            "type": "invalid_request_error",
            "param": None,
            "code": "cancelled",
        }
    return {
        "message": f"generation failed: {type(error).__name__}: {error}",
        "type": "server_error",
        "param": None,
        "code": "generation_failed",
    }


Listener = Callable[[], None]
# Turns the finished images into what the client reads back (base64 or stored URLs); run by
# the worker after the lease is released, so a background job keeps no PIL images.
Delivery = Callable[[list[Image.Image]], list[Any]]


@dataclass(eq=False)
class Job:
    """One queued generation. ``cancel()`` makes a running job stop at its next step.

    ``steps`` is the number of denoising steps it will run (the model's default filled in);
    ``background`` marks a job of ``POST /v1/images/jobs`` (its result is kept in ``data``).
    """

    request: GenerationRequest
    steps: int = 0
    background: bool = False
    deliver: Delivery | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    future: Future[GenerationResult] = field(default_factory=Future)
    enqueued_at: float = field(default_factory=time.perf_counter)
    created: float = field(default_factory=time.time)
    # Progress, written by the worker thread.
    status: JobStatus = JobStatus.QUEUED
    queue_position: int | None = None
    step: int = 0
    lease_requested_at: float | None = None
    lease_wait: float | None = None
    forced: bool | None = None
    finished_at: float | None = None
    data: list[Any] | None = None
    error: BaseException | None = None
    _cancelled: threading.Event = field(default_factory=threading.Event)
    _reason: BaseException | None = None
    _events: list[JobEvent] = field(default_factory=list)
    _listeners: set[Listener] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.future.add_done_callback(self._on_done)

    # Cancelling.

    def cancel(self, reason: BaseException | None = None) -> None:
        """Stop this job: a queued one never runs, a running one raises at its next step.

        ``reason`` is what the running job fails with (default :class:`GenerationCancelled`).
        """
        self._reason = reason
        self._cancelled.set()
        self.future.cancel()  # only succeeds while still queued

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def cancel_event(self) -> threading.Event:
        """Set by ``cancel()``: what a wait for the GPU lease watches."""
        return self._cancelled

    def stop_here(self, step: int) -> None:
        """The step hook's check: raise the cancel reason if the job was cancelled."""
        if self.cancelled:
            if self._reason is not None:
                raise self._reason
            raise GenerationCancelled(f"request {self.request_id} gave up at step {step}")

    # State and events.

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def lease_wait_so_far(self) -> float | None:
        """Seconds waited for the lease: counting while it waits, fixed once granted."""
        if self.lease_wait is not None:
            return self.lease_wait
        if self.lease_requested_at is not None:
            return time.perf_counter() - self.lease_requested_at
        return None

    def emit(self, kind: str, **data: Any) -> None:
        """Record an event and wake whoever streams this job."""
        with self._lock:
            self._append(kind, data)
        self._wake()

    def events_after(self, seq: int) -> list[JobEvent]:
        """The events numbered above ``seq``, oldest first."""
        with self._lock:
            return self._events[max(0, seq) :]

    @property
    def last_seq(self) -> int:
        with self._lock:
            return len(self._events)

    def listen(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.add(listener)

    def unlisten(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.discard(listener)

    def set_running(self) -> None:
        self.status = JobStatus.RUNNING
        self.queue_position = None
        self.emit("running", status=self.status.value)

    def _append(self, kind: str, data: dict[str, Any]) -> None:
        self._events.append(JobEvent(len(self._events) + 1, kind, data))

    def _wake(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def _on_done(self, future: Future[GenerationResult]) -> None:
        # The one place a job's outcome becomes its status: whatever completed the future (the
        # worker, a cancel while queued, a shutdown), the status and the last event follow.
        error: BaseException | None = None
        if future.cancelled():
            status = JobStatus.CANCELLED
            error = GenerationCancelled(f"request {self.request_id} was cancelled while queued")
        else:
            error = future.exception()
            if error is None:
                status = JobStatus.SUCCEEDED
            elif isinstance(error, GenerationCancelled):
                status = JobStatus.CANCELLED
            else:
                status = JobStatus.FAILED
        kind = {JobStatus.SUCCEEDED: "done"}.get(status, status.value)
        with self._lock:
            self.error = error
            self.queue_position = None
            self.finished_at = time.time()
            self.status = status
            data: dict[str, Any] = {"status": status.value, "step": self.step, "steps": self.steps}
            if error is not None:
                data["error"] = describe_error(error)
            self._append(kind, data)
        self._wake()
