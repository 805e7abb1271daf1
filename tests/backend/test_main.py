"""``python -m backend``: serves on the configured port (a real process); exits non-zero on a
model that cannot be loaded or on invalid settings."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
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


def test_sigterm_fails_the_queue_and_stops_within_the_grace(
    tmp_path: Path,
    tiny_sd: str,
    child: Callable[..., Any],
    subprocess_env: Callable[..., dict[str, str]],
) -> None:
    port = _free_port()
    env = _env(subprocess_env, tmp_path, tiny_sd, port)
    env.update(
        BACKEND_SHUTDOWN_GRACE="2",
        BACKEND_MAX_STEPS="1000",
        BACKEND_MAX_WORK=str(10**12),
        BACKEND_QUEUE_SIZE="4",
    )
    base = f"http://127.0.0.1:{port}"
    with child(["-m", "backend"], env) as server, httpx.Client(base_url=base, timeout=120) as http:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and server.proc.poll() is None:
            with contextlib.suppress(httpx.TransportError):
                if http.get("/readyz").status_code == 200:
                    break
            time.sleep(0.2)
        else:
            raise AssertionError("\n".join(server.stderr))
        answers: dict[str, tuple[int, str, float]] = {}

        def post(name: str, steps: int, n: int) -> None:
            body = {"prompt": name, "num_inference_steps": steps, "n": n}
            resp = http.post("/v1/images/generations", json=body)
            code = resp.json()["error"]["code"] if resp.status_code != 200 else ""
            answers[name] = (resp.status_code, code, time.monotonic())

        # One generation of minutes runs; two wait behind it.
        threads = [threading.Thread(target=post, args=("running", 999, 4))]
        threads[0].start()
        while not http.get("/gpu-status").json()["busy"]:
            time.sleep(0.05)
        threads += [threading.Thread(target=post, args=(f"queued{i}", 1, 1)) for i in range(2)]
        for t in threads[1:]:
            t.start()
        while http.get("/readyz").json()["queue_depth"] < 2:
            time.sleep(0.05)
        sent = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(60)
        rc = server.proc.wait(60)
        exited = time.monotonic() - sent
        assert rc in (0, -signal.SIGTERM)
        assert answers["queued0"][:2] == (503, "shutting_down")
        assert answers["queued1"][:2] == (503, "shutting_down")
        assert answers["queued0"][2] - sent < 1.5  # failed at once, not after the grace
        assert answers["running"][:2] == (503, "shutting_down")  # stopped after the grace
        assert 1.5 < answers["running"][2] - sent < 10
        assert exited < 15, exited  # the grace (2 s) plus the send margin, not minutes
        print(
            f"SIGTERM: queued answered in {answers['queued0'][2] - sent:.2f} s, "
            f"running in {answers['running'][2] - sent:.2f} s, exit after {exited:.2f} s"
        )
