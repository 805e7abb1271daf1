"""The dashboard: a live page of the GPU host (``GET /`` on the jobs service).

It shows the lease per device (holder, waiters, frozen and forced holds, memory by resident),
the lease's last hour, the backend's queue and latency (its ``/metrics``), the benchmark
runner's progress (its results folder) and the jobs. Every figure is read from where it
already lives when the page asks; see ``docs/dashboard.md``.
"""

from __future__ import annotations

from jobs.dashboard.routes import router

__all__ = ["router"]
