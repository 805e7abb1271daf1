"""A job as the store keeps it: its status (one of a fixed set), its record, its events.

The statuses are plain strings (they are the API's and the database's values); ``ACTIVE``
jobs own a container, ``TERMINAL`` ones never change status again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

QUEUED = "queued"
RUNNING = "running"
PAUSED = "paused"
SUCCEEDED = "succeeded"
FAILED = "failed"
TIMED_OUT = "timed_out"
OOM_KILLED = "oom_killed"
CANCELLED = "cancelled"
LOST = "lost"
STATUSES = (QUEUED, RUNNING, PAUSED, SUCCEEDED, FAILED, TIMED_OUT, OOM_KILLED, CANCELLED, LOST)
ACTIVE = frozenset({RUNNING, PAUSED})
TERMINAL = frozenset({SUCCEEDED, FAILED, TIMED_OUT, OOM_KILLED, CANCELLED, LOST})


@dataclass(frozen=True)
class Event:
    """One state change (or a note on the way to one): when, into which status, and why."""

    at: float
    status: str
    detail: str | None


@dataclass(frozen=True)
class JobRecord:
    """A job as stored; ``spec`` is the validated request as JSON."""

    id: str
    seq: int
    name: str | None
    status: str
    spec: dict[str, Any]
    created_at: float
    updated_at: float
    started_at: float | None = None
    finished_at: float | None = None
    container_id: str | None = None
    device: int | None = None
    exit_code: int | None = None
    oom_killed: bool | None = None
    run_seconds: float | None = None
    paused_seconds: float = 0.0
    freezes: int = 0
    result: Any = None
    result_error: str | None = None
    reason: str | None = None
    resource_check: dict[str, Any] | None = None
    #: What the job's folders take on disk (bytes): measured while it runs, then at its end.
    storage_used: int | None = None
    events: list[Event] = field(default_factory=list)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


class UnknownJob(KeyError):
    """No job with that id."""
