"""The engine options of the sandbox, and how a GPU is named to the engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.sandbox import Limits, engine_device_id, sandbox_options


@pytest.fixture
def recorded_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    figures = {"0": {"memory_total_bytes": 80 * 2**30, "memory_used_bytes": 0, "uuid": "GPU-7e"}}
    path = tmp_path / "nvml.json"
    path.write_text(json.dumps(figures))
    monkeypatch.setenv("GPU_COORD_NVML_FILE", str(path))


@pytest.mark.usefixtures("recorded_gpu")
def test_a_gpu_is_named_by_its_uuid_where_nvml_reads_one() -> None:
    assert engine_device_id(0) == "GPU-7e"  # the same card in every container's view
    assert engine_device_id(3) == "3"  # unknown to NVML: the index, as the host counts
    options = sandbox_options(Limits(), network=False, device=0)
    (request,) = options["device_requests"]
    assert request["DeviceIDs"] == ["GPU-7e"]
    assert request["Capabilities"] == [["gpu"]]


def test_the_sandbox_options() -> None:
    options = sandbox_options(
        Limits(cpus=2, memory_bytes=2**30, pids=64, tmp_bytes=2**20), network=False, device=None
    )
    assert options["network_mode"] == "none"
    assert options["read_only"] is True
    assert options["cap_drop"] == ["ALL"]
    assert options["memswap_limit"] == options["mem_limit"] == 2**30
    assert options["nano_cpus"] == 2 * 10**9
    assert options["tmpfs"] == {"/tmp": f"rw,nosuid,nodev,size={2**20}"}
    assert "device_requests" not in options
    shared = sandbox_options(Limits(cpus=0), network=True, device=None)
    assert shared["network_mode"] == "bridge"
    assert "nano_cpus" not in shared
    assert shared["cpu_shares"] == 2
