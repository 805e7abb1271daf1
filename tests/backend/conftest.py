"""Fixtures for the backend tests: settings in a tmp folder, apps, a live uvicorn server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from backend import Settings, create_app
from backend.server import make_server

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 120.0  # seconds: a generous bound for loading the tiny model on a busy CI box


@pytest.fixture(scope="session")
def tiny_sd(tiny_models: Any) -> str:
    """The tiny Stable Diffusion pipeline folder built once per session by tests/conftest.py."""
    return str(tiny_models.pipeline)


def make_settings(root: Path, model: str, **overrides: Any) -> Settings:
    """Settings isolated under ``root``: own lease record, own image folder, no .env, no key."""
    values: dict[str, Any] = {
        "model": model,
        "gpu_coord_path": root / "gpu_coord" / "status.json",
        "image_dir": root / "images",
        "api_key": None,
        "max_wait": None,
        "device": "cpu",
        "request_timeout": 120.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings_factory(tmp_path: Path, tiny_sd: str) -> Callable[..., Settings]:
    """``settings_factory(**overrides)``: settings on the tiny model, isolated in ``tmp_path``."""

    def factory(**overrides: Any) -> Settings:
        return make_settings(tmp_path, tiny_sd, **overrides)

    return factory


@pytest.fixture
def coord_path(tmp_path: Path) -> Path:
    """The lease record the settings from ``settings_factory`` point at."""
    return tmp_path / "gpu_coord" / "status.json"


def wait_ready(get: Callable[[str], httpx.Response], timeout: float = READY_TIMEOUT) -> None:
    """Poll ``/readyz`` until 200; fail (with the last body) if the model never loads."""
    deadline = time.monotonic() + timeout
    last: httpx.Response | None = None
    while time.monotonic() < deadline:
        last = get("/readyz")
        if last.status_code == 200:
            return
        if last.json().get("status") == "failed":
            break
        time.sleep(0.05)
    raise AssertionError(f"backend not ready: {None if last is None else last.text}")


@contextmanager
def ready_client(settings: Settings) -> Iterator[TestClient]:
    """A TestClient (lifespan running) once the model is loaded."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        wait_ready(client.get)
        yield client


@pytest.fixture
def client(settings_factory: Callable[..., Settings]) -> Iterator[TestClient]:
    with ready_client(settings_factory()) as c:
        yield c


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` as ``python -m backend`` does (uvicorn, the backend's protocol) on a
    loopback port in a thread; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # bound before serving: no race for a "free" port
    port = sock.getsockname()[1]
    server = make_server(app, host="127.0.0.1", port=port, log_level="warning")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise AssertionError("uvicorn did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@contextmanager
def ready_server(settings: Settings) -> Iterator[str]:
    """A live server whose model is loaded; yields the base URL."""
    with live_server(create_app(settings)) as url, httpx.Client(base_url=url) as http:
        wait_ready(http.get)
        yield url


def subprocess_env(coord_path: Path, **extra: str) -> dict[str, str]:
    """The environment for a child process: this interpreter's, with the test's lease record."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKEND_")}
    env["GPU_COORD_PATH"] = str(coord_path)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class Child:
    """A child Python process whose stdout/stderr lines are collected by reader threads."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._pump, args=(proc.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._pump, args=(proc.stderr, self.stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _pump(stream: Any, sink: list[str]) -> None:
        for line in stream:
            sink.append(line.rstrip("\n"))

    def events(self) -> list[dict[str, Any]]:
        """The JSON objects printed on stdout so far (``python -m gpu_coord hold`` prints these)."""
        out = []
        for line in list(self.stdout):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                out.append(value)
        return out

    def wait_event(self, name: str, timeout: float = 60.0) -> dict[str, Any]:
        """Block until the child prints ``{"event": name, ...}``; fail if it exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events():
                if event.get("event") == name:
                    return event
            if self.proc.poll() is not None:
                time.sleep(0.1)  # let the readers drain
                break
            time.sleep(0.02)
        raise AssertionError(
            f"no {name!r} event from child (rc={self.proc.poll()}):\n"
            + "\n".join(self.stdout + self.stderr)
        )

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)

    def finish(self) -> None:
        self.kill()
        for reader in self._readers:
            reader.join(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@contextmanager
def child(args: list[str], env: dict[str, str]) -> Iterator[Child]:
    """Run ``python args...``; always kill and reap it on the way out."""
    proc = subprocess.Popen(
        [sys.executable, *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    handle = Child(proc)
    try:
        yield handle
    finally:
        handle.finish()


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# ``python -m gpu_coord hold`` on the test's lease, for two minutes unless killed.
HOLD = ["-m", "gpu_coord", "hold", "--owner", "bench-holder", "--seconds", "120"]


@pytest.fixture
def hold(coord_path: Path) -> Callable[..., AbstractContextManager[Child]]:
    """``with hold("--priority", "low") as holder``: another program holding the test's
    lease (the CLI's options after ``HOLD``), entered once granted, always killed and reaped."""

    @contextmanager
    def start(*options: str) -> Iterator[Child]:
        with child([*HOLD, *options], subprocess_env(coord_path)) as holder:
            holder.wait_event("granted")
            yield holder

    return start


# The helpers above, as fixtures, so test modules need no imports from this file.


@pytest.fixture(name="ready_client", scope="session")
def _ready_client_fixture() -> Callable[[Settings], Any]:
    return ready_client


@pytest.fixture(name="ready_server", scope="session")
def _ready_server_fixture() -> Callable[[Settings], Any]:
    return ready_server


@pytest.fixture(name="live_server", scope="session")
def _live_server_fixture() -> Callable[[FastAPI], Any]:
    return live_server


@pytest.fixture(name="child", scope="session")
def _child_fixture() -> Callable[..., Any]:
    return child


@pytest.fixture(name="subprocess_env", scope="session")
def _subprocess_env_fixture() -> Callable[..., dict[str, str]]:
    return subprocess_env


@pytest.fixture(name="wait_for", scope="session")
def _wait_for_fixture() -> Callable[[Callable[[], bool], float, str], None]:
    return wait_for
