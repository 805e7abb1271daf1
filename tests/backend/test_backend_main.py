"""``python -m backend`` as a real process: serves on the configured port, exits non-zero on a
model that cannot be loaded or on invalid settings."""

from __future__ import annotations

import contextlib
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(
    subprocess_env: Callable[..., dict[str, str]], tmp_path: Path, model: str, port: int
) -> dict[str, str]:
    return subprocess_env(
        tmp_path / "gpu_coord" / "status.json",
        BACKEND_MODEL=model,
        BACKEND_PORT=str(port),
        BACKEND_DEVICE="cpu",
        BACKEND_MAX_WAIT="none",
        BACKEND_IMAGE_DIR=str(tmp_path / "images"),
        BACKEND_LOG_LEVEL="info",
    )


def test_serves_on_the_configured_port_and_stops_cleanly(
    tmp_path: Path,
    tiny_sd: str,
    child: Callable[..., Any],
    subprocess_env: Callable[..., dict[str, str]],
) -> None:
    port = _free_port()
    with child(["-m", "backend"], _env(subprocess_env, tmp_path, tiny_sd, port)) as server:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        ready = False
        while time.monotonic() < deadline and server.proc.poll() is None:
            with contextlib.suppress(httpx.TransportError):
                ready = httpx.get(f"{base}/readyz").status_code == 200
            if ready:
                break
            time.sleep(0.2)
        assert ready, "\n".join(server.stderr)
        resp = httpx.post(
            f"{base}/v1/images/generations",
            json={"prompt": "a fox", "num_inference_steps": 1},
            timeout=120,
        )
        assert resp.status_code == 200, resp.text
        server.proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal: a SIGTERM exit, not a crash.
        assert server.proc.wait(60) in (0, -signal.SIGTERM)
        server.finish()
        log = "\n".join(server.stderr)
        assert "Application shutdown complete" in log
        assert "lease wait" in log  # the per-request line: lease wait and generation time
        assert "generation" in log


def test_a_model_that_cannot_load_fails_start_up(
    tmp_path: Path,
    child: Callable[..., Any],
    subprocess_env: Callable[..., dict[str, str]],
) -> None:
    missing = str(tmp_path / "no-such-model")
    with child(["-m", "backend"], _env(subprocess_env, tmp_path, missing, _free_port())) as server:
        assert server.proc.wait(180) == 1
        server.finish()
        message = "\n".join(server.stderr)
        assert "start-up failed" in message
        assert missing in message
        assert "cannot load model" in message


def test_invalid_settings_fail_start_up_naming_the_variable(
    tmp_path: Path,
    child: Callable[..., Any],
    subprocess_env: Callable[..., dict[str, str]],
) -> None:
    env = _env(subprocess_env, tmp_path, "x", 8000)
    env["BACKEND_QUEUE_SIZE"] = "lots"
    with child(["-m", "backend"], env) as server:
        assert server.proc.wait(180) == 2
        server.finish()
        message = "\n".join(server.stderr)
        assert "queue_size" in message
        assert "BACKEND_" in message
