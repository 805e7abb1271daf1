"""Second to the backend: a job frozen through gpu_coord's preemptible hold while
``python -m gpu_coord hold --priority high`` runs, thawed and finishing afterwards.

The first test drives the very pieces the service uses for a ``manager`` job
(``jobs.gpu.manager_hold`` with ``DockerJob.pause``/``unpause``) on a container without a GPU
device request, so it runs on any host with an engine; the second goes through the service
and needs a GPU the engine can hand out (skipped with the reason elsewhere).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from docker.client import from_env

from jobs import DockerJob, Limits
from jobs.gpu import manager_hold
from tests.jobs.jobs_helpers import REPO, live_server, wait_status

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]


def _high_hold(coord: Path, seconds: float) -> subprocess.Popen[str]:
    env = dict(os.environ, GPU_COORD_PATH=str(coord))
    env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gpu_coord",
            "hold",
            "--owner",
            "backend",
            "--priority",
            "high",
            "--seconds",
            str(seconds),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _events(stdout: str) -> list[dict[str, Any]]:
    found = []
    for line in stdout.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


def test_a_held_container_is_frozen_for_the_high_caller_and_finishes(
    job_image: str, tmp_path: Path
) -> None:
    coord = tmp_path / "coord" / "status.json"
    for name in ("work", "output"):
        (tmp_path / name).mkdir()
        os.chmod(tmp_path / name, 0o777)
    job = DockerJob(
        job_image,
        work=tmp_path / "work",
        output=tmp_path / "output",
        command=["python3", "/usr/local/bin/jobtool.py", "tick", "12", "0.25"],
        timeout=5,  # 3 s of work + 3 s frozen: finishes only if frozen time does not count
        limits=Limits(cpus=1, memory_bytes=128 * 2**20),
    )
    states: list[str] = []
    high: subprocess.Popen[str] | None = None
    with (
        job,
        manager_hold(
            "jobs:test", device=0, path=coord, freeze=job.pause, thaw=job.unpause, memory_bytes=None
        ) as hold,
    ):
        try:
            time.sleep(0.5)
            high = _high_hold(coord, 3)
            deadline = time.monotonic() + 20
            while hold.freezes == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert job.container is not None
            time.sleep(1.0)
            states.append(from_env().containers.get(str(job.container.id)).status)
            outcome = job.wait()
            out, err = high.communicate(timeout=30)
        finally:
            if high is not None and high.poll() is None:
                high.kill()
                high.wait()
    assert states == ["paused"], states
    assert hold.freezes >= 1
    assert high.returncode == 0, err
    assert any(e.get("event") == "granted" for e in _events(out)), out
    assert not outcome.timed_out, outcome
    assert outcome.exit_code == 0
    assert outcome.paused_seconds >= 2.5
    assert outcome.log_path.read_text().splitlines() == [f"tick {i}" for i in range(12)]


def test_a_manager_gpu_job_is_paused_through_the_service(
    job_image: str, settings_factory: Any
) -> None:
    runtimes = from_env().info().get("Runtimes", {})
    with live_server(settings_factory()) as (url, service), httpx.Client(base_url=url) as http:
        if not service.host().gpus or "nvidia" not in runtimes:
            pytest.skip("needs an NVIDIA GPU and the engine's nvidia runtime")
        coord = service.settings.gpu_coord_path
        job = http.post(
            "/v1/jobs",
            json={
                "image": job_image,
                "command": ["python3", "/usr/local/bin/jobtool.py", "tick", "12", "0.25"],
                "timeout": 5,
                "resources": {"gpu": 1, "gpu_memory": "256MB"},
            },
        ).json()
        wait_status(http, job["id"], {"running"})
        time.sleep(0.5)
        high = _high_hold(coord, 3)
        try:
            paused = wait_status(http, job["id"], {"paused"}, timeout=20)
            assert "lease handed over" in paused["events"][-1]["detail"]
            done = wait_status(http, job["id"], {"succeeded", "failed", "timed_out"}, 60)
            high.communicate(timeout=30)
        finally:
            if high.poll() is None:
                high.kill()
                high.wait()
        assert done["status"] == "succeeded", done
        assert done["paused_seconds"] >= 2.5
        assert done["freezes"] >= 1
