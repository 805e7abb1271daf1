"""`make run`'s launcher: the set-up problems it must catch before starting anything."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

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
        [sys.executable, str(LAUNCHER), "--port", str(port)],
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
