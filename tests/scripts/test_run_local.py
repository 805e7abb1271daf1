"""`make run`'s launcher: the set-up problems it must catch before starting anything."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "scripts" / "run_local.py"


def _launch(tmp_path: Path, port: int, **env_overrides: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(
        {
            "BENCHMARK_DATA_DIR": str(tmp_path / "data"),
            "BENCHMARK_RESULTS_DIR": str(tmp_path / "results"),
            "GPU_COORD_PATH": str(tmp_path / "coord" / "status.json"),
        }
    )
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, str(LAUNCHER), "--port", str(port), "--jobs-port", str(_free_port())],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_busy_port_stops_with_advice(tmp_path):
    (tmp_path / "data").mkdir()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = _launch(tmp_path, port)
    assert result.returncode == 2
    assert f"port {port}" in result.stderr
    assert f"PORT={port + 1}" in result.stderr


def test_missing_data_folder_stops_with_advice(tmp_path):
    result = _launch(tmp_path, _free_port())
    assert result.returncode == 2
    assert str(tmp_path / "data") in result.stderr
    assert "mkdir -p" in result.stderr


def test_unwritable_results_folder_stops_with_advice(tmp_path):
    (tmp_path / "data").mkdir()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the results folder should be")
    result = _launch(tmp_path, _free_port(), BENCHMARK_RESULTS_DIR=str(blocker / "results"))
    assert result.returncode == 2
    assert str(blocker / "results") in result.stderr
    assert "cannot be written" in result.stderr


def _processes_with_env(marker: str) -> list[int]:
    """Pids whose environment holds ``marker`` (our children, whatever their command)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_runs_both_services_on_one_lease_and_stops_on_ctrl_c(tmp_path, tiny_models):
    data = tmp_path / "data"
    data.mkdir()
    (data / "two.txt").write_text("a red fox\na blue bird\n")
    config = tmp_path / "tiny.toml"
    config.write_text(
        "[run]\nseeds = [0]\ndevice = 'cpu'\nscore = true\n\n"
        f"[scorers]\nclip_model = '{tiny_models.clip}'\n"
        f"aesthetic_head = '{tiny_models.aesthetic}'\n\n"
        f"[[models]]\nname = 'tiny'\npath = '{tiny_models.pipeline}'\nsteps = 2\n"
        "width = 64\nheight = 64\n"
    )
    marker = str(tmp_path / "coord" / "status.json")
    port = _free_port()
    env = dict(os.environ)
    env.update(
        {
            "BENCHMARK_DATA_DIR": str(data),
            "BENCHMARK_RESULTS_DIR": str(tmp_path / "results"),
            "BENCHMARK_CONFIG": str(config),
            "BACKEND_MODEL": str(tiny_models.pipeline),
            "GPU_COORD_PATH": marker,
        }
    )
    launcher = subprocess.Popen(
        [sys.executable, str(LAUNCHER), "--port", str(port), "--jobs-port", str(_free_port())],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 300
        reports: list[Path] = []
        while time.monotonic() < deadline and not reports:
            assert launcher.poll() is None, launcher.stdout.read() if launcher.stdout else ""
            reports = list((tmp_path / "results").glob("reports/*/report.html"))
            time.sleep(1)
        assert reports, "the runner wrote no report"
        status = _get_json(f"{base}/gpu-status")
        assert {"busy", "owner", "since"} <= status.keys()
        # One lease: the backend reports the record the runner's leases went through.
        assert status["path"] == marker
        assert status["generation"] >= 2
        request = urllib.request.Request(
            f"{base}/v1/images/generations",
            data=json.dumps({"prompt": "a red fox", "num_inference_steps": 2}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            assert response.status == 200
        assert _get_json(f"{base}/gpu-status")["last_release"]["owner"] == "backend"
        assert len(list((tmp_path / "results").rglob("*.png"))) == 2
        assert len(_processes_with_env(marker)) >= 2  # backend and runner
        launcher.send_signal(signal.SIGINT)
        output, _ = launcher.communicate(timeout=60)
        assert launcher.returncode == 0, output
        assert f"{base}/gpu-status" in output
        assert _processes_with_env(marker) == []
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        for pid in _processes_with_env(marker):
            os.kill(pid, signal.SIGKILL)
