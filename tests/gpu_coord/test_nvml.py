"""The NVML helper: a GPU reading, or None where there is no NVML or no GPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpu_coord import GpuSnapshot, gpu_snapshot


def test_gpu_snapshot_is_none_or_a_sane_reading() -> None:
    snap = gpu_snapshot(0)
    if snap is None:  # no NVML library or no GPU on this machine: the documented answer
        assert gpu_snapshot(0) is None  # cached, still None
        return
    assert isinstance(snap, GpuSnapshot)
    assert snap.name
    assert 0 <= snap.memory_used_bytes <= snap.memory_total_bytes
    assert snap.energy_mj is None or snap.energy_mj >= 0


def test_gpu_snapshot_for_a_missing_device_is_none() -> None:
    assert gpu_snapshot(10_000) is None


def test_recorded_figures_replace_the_card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    figures = tmp_path / "nvml.json"
    figures.write_text(
        json.dumps(
            {
                "1": {
                    "name": "recorded",
                    "memory_total_bytes": 100,
                    "memory_used_bytes": 40,
                    "utilization_percent": 87,
                    "uuid": "GPU-0f3c",
                }
            }
        )
    )
    monkeypatch.setenv("GPU_COORD_NVML_FILE", str(figures))
    assert gpu_snapshot(1) == GpuSnapshot("recorded", 100, 40, None, 87, uuid="GPU-0f3c")
    assert gpu_snapshot(0) is None  # not in the file: absent
    figures.write_text("not json")  # read afresh each call; a bad file reads as absent
    assert gpu_snapshot(1) is None
