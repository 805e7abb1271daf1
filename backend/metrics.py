"""Prometheus metrics on a per-app registry, and the ASGI middleware that counts requests.

Each app gets its own :class:`~prometheus_client.CollectorRegistry`, so several apps in one
process (tests) never clash over metric names.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.lease_metrics import LeaseCollector

# Generation on a warm GPU is sub-second to tens of seconds; CPU runs and long queues go further.
_SLOW_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class Metrics:
    """The backend's metrics. All names start with ``backend_`` (the lease's: ``gpu_coord_``)."""

    def __init__(self, lease_path: str | os.PathLike[str] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # The GPU lease's figures (gpu_coord_*), read from its record and log at scrape time.
        self.lease = LeaseCollector(lease_path)
        r.register(self.lease)
        self.requests = Counter(
            "backend_http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=r,
        )
        self.request_latency = Histogram(
            "backend_http_request_duration_seconds",
            "Time from request to response, by method and route template.",
            ["method", "route"],
            buckets=_SLOW_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "backend_queue_depth", "Generations waiting in the queue (not yet running).", registry=r
        )
        self.queue_rejections = Counter(
            "backend_queue_rejections",
            "Generation requests refused with 429 (queue full).",
            registry=r,
        )
        self.lease_wait = Histogram(
            "backend_lease_wait_seconds",
            "Time each generation waited for the GPU lease.",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=r,
        )
        self.generation_seconds = Histogram(
            "backend_generation_seconds",
            "Time spent generating inside the lease, per request.",
            buckets=_SLOW_BUCKETS,
            registry=r,
        )
        self.forced_leases = Counter(
            "backend_forced_leases",
            "Generations that went ahead without the lease after max_wait.",
            registry=r,
        )
        self.images = Counter("backend_images_generated", "Images generated.", registry=r)
        self.failures = Counter(
            "backend_generation_failures",
            "Generations that failed or were given up, by reason (error, timeout, disconnect, "
            "out_of_memory, cancelled).",
            ["reason"],
            registry=r,
        )
        self.model_ready = Gauge(
            "backend_model_ready", "1 once the model is loaded, else 0.", registry=r
        )

    def track_queue(self, depth: Callable[[], float]) -> None:
        """Read the queue depth from ``depth`` at scrape time."""
        self.queue_depth.set_function(depth)


class MetricsMiddleware:
    """Counts every HTTP request by route template (not raw path, so ids do not explode labels)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            # The router records the matched route in the scope; unmatched paths share one label.
            route = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            method = scope.get("method", "?")
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.request_latency.labels(method, template).observe(
                time.perf_counter() - start
            )
