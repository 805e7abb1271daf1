"""The jobs panel's data: queued, running (with its log tail) and recently finished jobs,
straight from the jobs store and the jobs' log files."""

from __future__ import annotations

from typing import Any

from jobs import views
from jobs.service import JobService
from jobs.store import PAUSED, QUEUED, RUNNING, TERMINAL

RECENT = 10
QUEUED_SHOWN = 20
LOG_LINES = 12


def jobs_view(service: JobService) -> dict[str, Any]:
    """Queued (in queue order), running or paused (each with its last log lines), and the
    newest finished jobs."""
    queued = service.store.with_status(QUEUED)
    running = service.store.with_status(RUNNING, PAUSED)
    recent, _ = service.store.page(limit=RECENT + len(running) + len(queued))
    finished = [r for r in recent if r.status in TERMINAL][:RECENT]
    return {
        "queued": [views.summary(r, service.queue_position(r.id)) for r in queued[:QUEUED_SHOWN]],
        "queued_total": len(queued),
        "running": [
            {
                **views.summary(r, None),
                "storage_limit": r.spec.get("resources", {}).get("storage"),
                "log_tail": views.log_tail(service.folder(r.id), LOG_LINES),
            }
            for r in running
        ],
        "finished": [views.summary(r, None) for r in finished],
        "engine": None if service.client is not None else service.engine_error,
    }
