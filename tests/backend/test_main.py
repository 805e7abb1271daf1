"""``python -m backend``: serves on the configured port (a real process); exits non-zero on a
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


# The failures run main() in this process: the same code path as ``python -m backend``
# (``sys.exit(main())``) without paying a second interpreter's torch import on a 2-core box.


@pytest.fixture
def backend_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    import os

    for key in list(os.environ):
        if key.startswith("BACKEND_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("GPU_COORD_PATH", str(tmp_path / "gpu_coord" / "status.json"))
    monkeypatch.setenv("BACKEND_PORT", str(_free_port()))
    monkeypatch.setenv("BACKEND_DEVICE", "cpu")
    monkeypatch.setenv("BACKEND_IMAGE_DIR", str(tmp_path / "images"))
    return monkeypatch


def test_a_model_that_cannot_load_fails_start_up(
    tmp_path: Path, backend_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from backend.__main__ import main

    missing = str(tmp_path / "no-such-model")
    backend_env.setenv("BACKEND_MODEL", missing)
    assert main() == 1
    message = capsys.readouterr().err
    assert "start-up failed" in message
    assert missing in message
    assert "cannot load model" in message


def test_invalid_settings_fail_start_up_naming_the_variable(
    backend_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from backend.__main__ import main

    backend_env.setenv("BACKEND_QUEUE_SIZE", "lots")
    assert main() == 2
    message = capsys.readouterr().err
    assert "queue_size" in message
    assert "BACKEND_" in message
