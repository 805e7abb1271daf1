"""The GPU lease's figures on ``/metrics``: read from gpu_coord's record and log at scrape time.

A custom collector, no background thread: every scrape reads each device's record
(:func:`gpu_coord.read_status`: holder, waiters, residents, NVML's memory figures) and the
lease's history (:func:`gpu_coord.history`, :func:`gpu_coord.usage`). The totals cover what
the log still holds (it rotates by size): a rotation shows as a counter reset, which
Prometheus' ``rate()`` handles. All names start with ``gpu_coord_``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from gpu_coord import LeaseEvent, devices, history, read_status, usage

#: Seconds; from a free lease (well under 1 ms) to a long wait behind a batch job.
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_OWNER = ["device", "owner"]
_RESIDENT = ["device", "owner", "pid"]


def _counter(name: str, text: str, labels: list[str]) -> CounterMetricFamily:
    return CounterMetricFamily(name, text, labels=labels)


def _gauge(name: str, text: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, text, labels=labels or ["device"])


@dataclass
class _Families:
    held: CounterMetricFamily = field(
        default_factory=lambda: _counter(
            "gpu_coord_lease_held_seconds", "GPU time held under the lease, by owner.", _OWNER
        )
    )
    grants: CounterMetricFamily = field(
        default_factory=lambda: _counter(
            "gpu_coord_lease_grants",
            "Lease grants, by owner and priority.",
            ["device", "owner", "priority"],
        )
    )
    forced: CounterMetricFamily = field(
        default_factory=lambda: _counter(
            "gpu_coord_lease_forced",
            "High-priority callers that went ahead without the lease after max_wait.",
            _OWNER,
        )
    )
    freezes: CounterMetricFamily = field(
        default_factory=lambda: _counter(
            "gpu_coord_lease_freezes",
            "Preemptible holds frozen to let high-priority work in.",
            _OWNER,
        )
    )
    wait: HistogramMetricFamily = field(
        default_factory=lambda: HistogramMetricFamily(
            "gpu_coord_lease_wait_seconds",
            "Time from asking for the lease to its grant, by priority.",
            labels=["device", "priority"],
        )
    )
    busy: GaugeMetricFamily = field(
        default_factory=lambda: _gauge("gpu_coord_lease_busy", "1 while the lease is held.")
    )
    waiters: GaugeMetricFamily = field(
        default_factory=lambda: _gauge("gpu_coord_lease_waiters", "Callers waiting now.")
    )
    resident: GaugeMetricFamily = field(
        default_factory=lambda: _gauge(
            "gpu_coord_resident_bytes",
            "Memory each registered resident says it keeps on the device.",
            _RESIDENT,
        )
    )
    headroom: GaugeMetricFamily = field(
        default_factory=lambda: _gauge(
            "gpu_coord_resident_headroom_bytes",
            "Memory each registered resident may still take at its peak.",
            _RESIDENT,
        )
    )
    total: GaugeMetricFamily = field(
        default_factory=lambda: _gauge("gpu_coord_gpu_memory_total_bytes", "GPU memory (NVML).")
    )
    used: GaugeMetricFamily = field(
        default_factory=lambda: _gauge(
            "gpu_coord_gpu_memory_used_bytes", "GPU memory in use (NVML)."
        )
    )
    unaccounted: GaugeMetricFamily = field(
        default_factory=lambda: _gauge(
            "gpu_coord_gpu_memory_unaccounted_bytes",
            "GPU memory in use that no registered resident claims.",
        )
    )

    def all(self) -> Iterator[Metric]:
        for item in fields(self):
            yield getattr(self, item.name)


class LeaseCollector(Collector):
    """Collects the lease of every device with one in the folder of ``path``."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = path

    def describe(self) -> Iterator[Metric]:
        # The families without samples: registering must not read the lease.
        yield from _Families().all()

    def collect(self) -> Iterator[Metric]:
        families = _Families()
        for device in devices(self.path) or [0]:
            self._device(device, families)
        yield from families.all()

    def _device(self, device: int, f: _Families) -> None:
        label = str(device)
        status = read_status(self.path, device)
        f.busy.add_metric([label], 1.0 if status["busy"] else 0.0)
        f.waiters.add_metric([label], float(len(status["waiters"])))
        for r in status["residents"]:
            key = [label, str(r["owner"]), str(r["pid"])]
            if r["resident_bytes"] is not None:
                f.resident.add_metric(key, float(r["resident_bytes"]))
            f.headroom.add_metric(key, float(r["headroom_bytes"]))
        _optional(f.total, label, status, "memory_total_bytes")
        _optional(f.used, label, status, "memory_used_bytes")
        _optional(f.unaccounted, label, status, "unaccounted_bytes")
        for owner in usage(device, path=self.path).owners:
            f.held.add_metric([label, owner.owner], owner.held_seconds)
            f.forced.add_metric([label, owner.owner], float(owner.forced))
            f.freezes.add_metric([label, owner.owner], float(owner.freezes))
        events = history(device, path=self.path)
        grants = Counter((e.owner or "?", e.priority or "?") for e in events if e.event == "grant")
        for (owner_name, priority), count in sorted(grants.items()):
            f.grants.add_metric([label, owner_name, priority], float(count))
        for priority in ("high", "low"):
            waits = _waits(events, priority)
            buckets = [(str(b), float(sum(w <= b for w in waits))) for b in WAIT_BUCKETS]
            buckets.append(("+Inf", float(len(waits))))
            f.wait.add_metric([label, priority], buckets, sum_value=sum(waits))


def _optional(family: GaugeMetricFamily, label: str, status: dict[str, Any], key: str) -> None:
    if status[key] is not None:  # None without NVML: no sample rather than a made-up 0
        family.add_metric([label], float(status[key]))


def _waits(events: list[LeaseEvent], priority: str) -> list[float]:
    return [
        e.wait_seconds
        for e in events
        if e.event in ("grant", "forced") and e.priority == priority and e.wait_seconds is not None
    ]
