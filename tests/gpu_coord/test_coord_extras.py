"""The NVML helper, the baselines' shape and exclusion, and the benchmark smoke run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from coord_helpers import REPO, Children, child_env, finish

from gpu_coord import GpuSnapshot, gpu_snapshot
from gpu_coord.baselines import FileLockLease, OriginalLease, make


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


@pytest.mark.parametrize("scheme", ["original", "filelock"])
def test_baselines_have_the_lease_shape(scheme: str, lease_path: Path) -> None:
    handle = make(scheme, "bench", priority="high", path=lease_path)
    assert isinstance(handle, OriginalLease | FileLockLease)
    assert (handle.owner, handle.priority, handle.held) == ("bench", "high", False)
    with handle as held:
        assert held is handle
        assert held.held
        assert held.checkpoint() is False
        assert held.generation is None
        assert held.forced is False
    assert not handle.held
    assert handle.yields == 0
    with pytest.raises(ValueError, match="scheme"):
        make("nope", "x", path=lease_path)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("scheme", ["original", "filelock"])
def test_baselines_exclude_each_other(scheme: str, children: Children, tmp_path: Path) -> None:
    # The original scheme sleeps 0.5 s per release: keep the counts small.
    n = 3 if scheme == "original" else 50
    marker = tmp_path / "inside"
    procs = [
        children.worker(
            "stress", n=n, marker=str(marker), owner=f"p{i}", priority="low", scheme=scheme
        )
        for i in range(3)
    ]
    results = [finish(p, timeout=100)[-1] for p in procs]
    assert sum(r["overlaps"] for r in results) == 0


@pytest.mark.timeout(240)
def test_bench_quick_appends_a_table(tmp_path: Path) -> None:
    output = tmp_path / "perf.md"
    output.write_text("# existing\n\nkept as is\n")
    env = child_env(tmp_path / "unused" / "status.json")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gpu_coord.bench",
            "--quick",
            "--output",
            str(output),
            "--dir",
            str(tmp_path),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=230,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    text = output.read_text()
    assert text.startswith("# existing\n\nkept as is\n")
    assert "python -m gpu_coord.bench --quick" in text
    assert f"{os.cpu_count()} cores" in text
    for measure in (
        "uncontended acquire+release, low",
        "checkpoint()",
        "handoff",
        "wake-up",
        "crash reclaim",
    ):
        assert measure in text
    assert "| gpu_coord |" in text.splitlines()[-8] or "gpu_coord" in text
    assert "-" not in [
        cell.strip() for line in text.splitlines()[-6:] for cell in line.split("|")[3:-1]
    ]
