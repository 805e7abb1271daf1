"""jobs: research tasks in sandboxed containers, second to the backend on the GPU.

The service (``python -m jobs``, port 8001) queues jobs, checks their resources against the
host, runs each in its own container through the Docker SDK and records every state change
in SQLite. :class:`DockerJob` is the container wrapper on its own (the benchmark runner may
use it for isolation). See ``docs/jobs.md``.
"""

from __future__ import annotations

from jobs.app import create_app
from jobs.docker_job import LABEL, Detached, DockerJob, Outcome, sweep
from jobs.errors import APIError
from jobs.sandbox import Limits
from jobs.service import JobService
from jobs.settings import Settings
from jobs.spec import JobFile, JobSpec, Resources
from jobs.store import STATUSES, JobRecord, JobStore

__all__ = [
    "LABEL",
    "STATUSES",
    "APIError",
    "Detached",
    "DockerJob",
    "JobFile",
    "JobRecord",
    "JobService",
    "JobSpec",
    "JobStore",
    "Limits",
    "Outcome",
    "Resources",
    "Settings",
    "create_app",
    "sweep",
]
