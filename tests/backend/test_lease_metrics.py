"""The lease's figures on /metrics: a collector reading gpu_coord's record and log per scrape."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from backend.lease_metrics import LeaseCollector
from backend.metrics import Metrics
from gpu_coord import PreemptibleHold, lease, resident

GiB = 2**30


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_scrape_reads_holds_residents_and_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "coord" / "status.json"
    figures = tmp_path / "nvml.json"
    figures.write_text(
        json.dumps({"0": {"memory_total_bytes": 80 * GiB, "memory_used_bytes": 10 * GiB}})
    )
    monkeypatch.setenv("GPU_COORD_NVML_FILE", str(figures))
    registry = CollectorRegistry()
    registry.register(LeaseCollector(path))
    with lease("runner", path=path):
        time.sleep(0.05)
    with (
        lease("backend", priority="high", path=path, max_wait=0.0),
        lease("late", priority="high", path=path, max_wait=0.0) as forced,
    ):
        assert forced.forced
    with resident("model", path=path, resident_bytes=4 * GiB, headroom_bytes=GiB) as keeper:
        samples = _samples(registry)
        pid = str(keeper._pid)
    d = ("device", "0")
    assert samples[("gpu_coord_lease_held_seconds_total", (d, ("owner", "runner")))] >= 0.05
    assert (
        samples[("gpu_coord_lease_grants_total", (d, ("owner", "runner"), ("priority", "low")))]
        == 1
    )
    assert (
        samples[("gpu_coord_lease_grants_total", (d, ("owner", "backend"), ("priority", "high")))]
        == 1
    )
    assert samples[("gpu_coord_lease_forced_total", (d, ("owner", "late")))] == 1
    assert samples[("gpu_coord_lease_wait_seconds_count", (d, ("priority", "low")))] == 1
    assert samples[("gpu_coord_lease_wait_seconds_count", (d, ("priority", "high")))] == 2
    assert samples[("gpu_coord_lease_busy", (d,))] == 0
    assert samples[("gpu_coord_resident_bytes", (d, ("owner", "model"), ("pid", pid)))] == 4 * GiB
    assert (
        samples[("gpu_coord_resident_headroom_bytes", (d, ("owner", "model"), ("pid", pid)))] == GiB
    )
    assert samples[("gpu_coord_gpu_memory_total_bytes", (d,))] == 80 * GiB
    assert samples[("gpu_coord_gpu_memory_used_bytes", (d,))] == 10 * GiB
    assert samples[("gpu_coord_gpu_memory_unaccounted_bytes", (d,))] == 6 * GiB


def test_freezes_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "coord" / "status.json"
    registry = CollectorRegistry()
    registry.register(LeaseCollector(path))
    with PreemptibleHold("job", freeze=lambda: None, thaw=lambda: None, path=path) as hold:
        with lease("backend", priority="high", path=path, timeout=30):
            pass
        assert hold.freezes == 1
    samples = _samples(registry)
    assert samples[("gpu_coord_lease_freezes_total", (("device", "0"), ("owner", "job")))] == 1


def test_without_nvml_no_memory_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gpu_coord import gpu_snapshot

    monkeypatch.delenv("GPU_COORD_NVML_FILE", raising=False)
    if gpu_snapshot(0) is not None:
        pytest.skip("a GPU is readable here")
    registry = CollectorRegistry()
    registry.register(LeaseCollector(tmp_path / "coord" / "status.json"))
    names = {name for name, _ in _samples(registry)}
    assert "gpu_coord_gpu_memory_total_bytes" not in names
    assert "gpu_coord_lease_busy" in names


def test_the_backend_registry_carries_the_lease(tmp_path: Path) -> None:
    path = tmp_path / "coord" / "status.json"
    metrics = Metrics(lease_path=path)
    with lease("runner", path=path):
        pass
    samples = _samples(metrics.registry)
    key = (
        "gpu_coord_lease_grants_total",
        (("device", "0"), ("owner", "runner"), ("priority", "low")),
    )
    assert samples[key] == 1
