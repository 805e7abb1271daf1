"""The jobs the service knows: every queued and running one, and finished background ones.

A finished background job stays readable for ``BACKEND_JOB_RETENTION`` seconds, and at most
``BACKEND_JOB_HISTORY`` of them are kept (the oldest go first): each keeps its images (base64
or stored URLs) until it goes. A finished blocking request is forgotten at once: its client
got the images in its answer.
"""

from __future__ import annotations

import threading
import time

from backend.job import Job


class JobStore:
    """Jobs by id, in submission order; pruned on every read and write."""

    def __init__(self, retention: float, history: int) -> None:
        self.retention = retention
        self.history = history
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def add(self, job: Job) -> None:
        with self._lock:
            self._jobs[job.request_id] = job
            self._prune()

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            self._prune()
            return self._jobs.get(job_id)

    def forget(self, job_id: str) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)

    def jobs(self) -> list[Job]:
        """Every job kept, in submission order."""
        with self._lock:
            self._prune()
            return list(self._jobs.values())

    def _prune(self) -> None:
        horizon = time.time() - self.retention
        kept_finished: list[str] = []
        for job_id, job in list(self._jobs.items()):
            if not job.finished:
                continue
            finished_at = job.finished_at or 0.0
            if not job.background or finished_at < horizon:
                del self._jobs[job_id]
            else:
                kept_finished.append(job_id)
        if len(kept_finished) > self.history:
            oldest = sorted(kept_finished, key=lambda i: self._jobs[i].finished_at or 0.0)
            for job_id in oldest[: len(kept_finished) - self.history]:
                del self._jobs[job_id]
