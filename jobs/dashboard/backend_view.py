"""The backend panel's data: its ``/metrics`` read over HTTP, and its jobs route when it has one.

The queue depth is the backend's own gauge. Latency p50/p95 over the last 5 minutes come from
the cumulative histogram of ``POST /v1/images/generations``: :class:`BackendWatch` keeps the
bucket counts of its recent scrapes (a window of the backend's counters, as Prometheus would,
not a copy of any state) and interpolates the quantiles from the difference, as
``histogram_quantile`` does. The window starts with the first scrape: until 5 minutes have
passed the answer says how long it covers.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

WINDOW_SECONDS = 300.0
LATENCY_METRIC = "backend_http_request_duration_seconds"
LATENCY_ROUTE = ("POST", "/v1/images/generations")
# One scrape serves every page polling within this many seconds.
SCRAPE_EVERY = 0.5
TIMEOUT = 2.0
# The background-generations route, used when the backend has it (404 otherwise).
JOBS_ROUTE = "/v1/images/jobs"
JOBS_SHOWN = 20

Buckets = dict[float, float]


@dataclass
class Scrape:
    """What one read of ``/metrics`` gave: the figures shown and the latency buckets."""

    at: float
    figures: dict[str, float | None]
    buckets: Buckets


def parse_metrics(text: str) -> Scrape:
    """The panel's figures and the generation route's cumulative latency buckets."""
    figures: dict[str, float | None] = {
        "queue_depth": None,
        "model_ready": None,
        "images_generated": None,
        "queue_rejections": None,
        "failures": None,
    }
    names = {
        "backend_queue_depth": "queue_depth",
        "backend_model_ready": "model_ready",
        "backend_images_generated_total": "images_generated",
        "backend_queue_rejections_total": "queue_rejections",
    }
    buckets: Buckets = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in names:
                figures[names[sample.name]] = sample.value
            elif sample.name == "backend_generation_failures_total":
                figures["failures"] = (figures["failures"] or 0.0) + sample.value
            elif (
                sample.name == f"{LATENCY_METRIC}_bucket"
                and (
                    sample.labels.get("method"),
                    sample.labels.get("route"),
                )
                == LATENCY_ROUTE
            ):
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return Scrape(time.time(), figures, buckets)


def quantile(q: float, buckets: Buckets) -> float | None:
    """The ``q`` quantile of cumulative ``buckets`` (bound -> count), interpolated linearly
    inside the bucket it falls in; None without observations. Past the last finite bound the
    answer is that bound (the histogram knows no more)."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, count
    return lower


@dataclass
class BackendWatch:
    """Reads the backend for the dashboard; keeps the last 5 minutes of latency buckets."""

    url: str
    api_key: str | None = None
    _scrapes: deque[Scrape] = field(default_factory=deque)
    _last: dict[str, Any] | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def view(self) -> dict[str, Any]:
        """The panel: reachable or not (with the reason), figures, latency, the running job."""
        async with self._lock:
            if self._last is not None and time.time() - self._last["checked"] < SCRAPE_EVERY:
                return self._last
            self._last = await self._read()
            return self._last

    async def _read(self) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        base: dict[str, Any] = {"url": self.url, "checked": time.time()}
        try:
            async with httpx.AsyncClient(base_url=self.url, timeout=TIMEOUT) as http:
                answer = await http.get("/metrics", headers=headers)
                if answer.status_code != 200:
                    reason = f"{self.url}/metrics answered HTTP {answer.status_code}"
                    return {**base, "reachable": False, "reason": reason}
                try:
                    scrape = parse_metrics(answer.text)
                except ValueError as exc:
                    reason = f"{self.url}/metrics is not Prometheus text: {exc}"
                    return {**base, "reachable": False, "reason": reason}
                jobs = await self._jobs(http, headers)
        except httpx.HTTPError as exc:
            reason = f"{self.url}/metrics: {exc.__class__.__name__}: {exc or 'no answer'}"
            return {**base, "reachable": False, "reason": reason}
        p50, p95, covered, count = self._latency(scrape)
        return {
            **base,
            "reachable": True,
            "reason": None,
            **scrape.figures,
            "latency_p50_seconds": p50,
            "latency_p95_seconds": p95,
            "latency_requests": count,
            "latency_window_seconds": covered,
            "jobs": jobs,
        }

    def _latency(self, scrape: Scrape) -> tuple[float | None, float | None, float | None, float]:
        """Quantiles over the window ending with ``scrape``; a counter that went down (the
        backend restarted) starts the window afresh."""
        if self._scrapes and any(
            scrape.buckets.get(b, 0.0) < c for b, c in self._scrapes[-1].buckets.items()
        ):
            self._scrapes.clear()
        self._scrapes.append(scrape)
        # Keep one scrape at or before the window's start: the difference covers all of it.
        while len(self._scrapes) > 1 and self._scrapes[1].at <= scrape.at - WINDOW_SECONDS:
            self._scrapes.popleft()
        first = self._scrapes[0]
        covered: float | None
        if first is scrape:
            # No earlier scrape: everything the backend counted since it started (covered None).
            window, covered = dict(scrape.buckets), None
        else:
            window = {b: c - first.buckets.get(b, 0.0) for b, c in scrape.buckets.items()}
            covered = min(scrape.at - first.at, WINDOW_SECONDS)
        count = max(window.values(), default=0.0)
        return quantile(0.5, window), quantile(0.95, window), covered, count

    async def _jobs(self, http: httpx.AsyncClient, headers: dict[str, str]) -> Any:
        """The backend's running generation and its queue from ``GET /v1/images/jobs`` (each
        with ``id``, ``step`` of ``steps``, ``eta_seconds``, ``lease_wait_seconds``,
        ``queue_position``); None when the backend has no such route or it does not answer."""
        try:
            answer = await http.get(JOBS_ROUTE, params={"limit": JOBS_SHOWN}, headers=headers)
        except httpx.HTTPError:
            return None
        if answer.status_code != 200:
            return None
        try:
            body = answer.json()
        except ValueError:
            return None
        jobs = body.get("data") if isinstance(body, dict) else None
        if not isinstance(jobs, list):
            return None
        jobs = [j for j in jobs if isinstance(j, dict)]
        return {
            "running": [j for j in jobs if j.get("status") == "running"],
            "queued": [j for j in jobs if j.get("status") == "queued"],
        }
