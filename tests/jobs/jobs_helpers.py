"""Helpers of the jobs tests: settings in a tmp folder, a live server, the engine and the image."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from jobs import Settings, create_app

REPO = Path(__file__).resolve().parents[2]
JOB_IMAGE = "gpu-share-job-test:1"
# The job image of the tests: the project's debootstrap base plus one helper the jobs run.
JOB_DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY jobtool.py /usr/local/bin/jobtool.py
LABEL gpu-share.test=jobs
"""
JOBTOOL = '''\
"""What the test jobs do: write a result, allocate memory, try the network, try to escape."""
import json, os, socket, sys, time
what = sys.argv[1]
if what == "result":
    json.dump({"score": float(sys.argv[2])}, open(os.environ["JOB_RESULT"], "w"))
elif what == "eat":
    hog = []
    while True:
        hog.append(bytearray(16 * 2**20))
elif what == "net":
    try:
        socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=3).close()
        print("NETWORK-REACHED")
    except OSError as exc:
        print(f"NETWORK-REFUSED: {exc}")
elif what == "escape":
    for target in ("/etc/escaped", "/usr/escaped", "/resources/escaped", "/escaped"):
        try:
            open(target, "w").write("x")
            print(f"WROTE {target}")
        except OSError as exc:
            print(f"REFUSED {target}: {exc.strerror}")
elif what == "tick":
    for i in range(int(sys.argv[2])):
        print(f"tick {i}", flush=True)
        time.sleep(float(sys.argv[3]))
'''


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_settings(root: Path, **overrides: Any) -> Settings:
    """Settings isolated under ``root``: own records, own lease folder, no .env, no key."""
    (root / "resources").mkdir(parents=True, exist_ok=True)
    values: dict[str, Any] = {
        "data_dir": root / "data",
        "resources_dir": root / "resources",
        "gpu_coord_path": root / "coord" / "status.json",
        "api_key": None,
        "poll_interval": 0.1,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@contextmanager
def live_server(settings: Settings) -> Iterator[tuple[str, Any]]:
    """The app under uvicorn on a loopback port in a thread; yields (base URL, the service)."""
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise AssertionError("uvicorn did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}", app.state.service
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
        service = app.state.service
        if service.service_key:
            # The engine outlives the test: a container a failed test left running goes too.
            from docker.client import from_env

            from jobs import sweep
            from jobs.service import LABEL_SERVICE

            client = from_env()
            sweep(
                client, lambda c: False, filters={"label": f"{LABEL_SERVICE}={service.service_key}"}
            )
            client.close()


def wait_status(
    http: httpx.Client, job_id: str, statuses: set[str], timeout: float = 60.0
) -> dict[str, Any]:
    """Poll the job until its status is one of ``statuses``; fail with the record otherwise."""
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = http.get(f"/v1/jobs/{job_id}").json()
        if job.get("status") in statuses:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never reached {statuses}: {job}")


# -- the engine -----------------------------------------------------------------------------


def engine_or_skip() -> None:
    """Make sure a Docker engine answers: required in CI, else skip with the reason."""
    from tests.stack.stack_engine import ENABLE_HINT, e2e_mode, engine_answers, ensure_engine

    mode, why = e2e_mode()
    if mode == "skip":
        pytest.skip(why)
    if mode == "required":
        ensure_engine()
    elif not engine_answers():
        pytest.skip(f"no Docker engine answers (docker info failed): {ENABLE_HINT}")


def ensure_job_image() -> str:
    """The tests' job image, built once FROM the debootstrap base (kept by its tag)."""
    import docker.errors
    from docker.client import from_env

    from tests.stack.stack_engine import BASE_IMAGE, e2e_mode, ensure_base_image, image_exists

    client = from_env()
    try:
        client.images.get(JOB_IMAGE)
        return JOB_IMAGE
    except docker.errors.ImageNotFound:
        pass
    if not image_exists(BASE_IMAGE):
        if os.geteuid() != 0 and e2e_mode()[0] != "required":
            pytest.skip(
                f"the base image {BASE_IMAGE} is missing and building it needs root: "
                "sudo scripts/docker/build-base-image.sh"
            )
        ensure_base_image()
    context = io.BytesIO()
    import tarfile

    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, text in (("Dockerfile", JOB_DOCKERFILE), ("jobtool.py", JOBTOOL)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    client.images.build(
        fileobj=context,
        custom_context=True,
        tag=JOB_IMAGE,
        buildargs={"BASE_IMAGE": BASE_IMAGE},
        rm=True,
    )
    return JOB_IMAGE


def labelled_containers(job_id: str) -> list[Any]:
    from docker.client import from_env

    return list(
        from_env().containers.list(
            all=True, filters={"label": f"gpu-share.jobs.id={job_id}"}, ignore_removed=True
        )
    )


def service_env(settings_root: Path, port: int, **extra: str) -> dict[str, str]:
    """The environment of a ``python -m jobs`` child serving ``settings_root``'s folders."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBS_")}
    env.update(
        {
            "JOBS_DATA_DIR": str(settings_root / "data"),
            "JOBS_RESOURCES_DIR": str(settings_root / "resources"),
            "JOBS_GPU_COORD_PATH": str(settings_root / "coord" / "status.json"),
            "JOBS_PORT": str(port),
            "JOBS_POLL_INTERVAL": "0.1",
            "JOBS_LOG_LEVEL": "warning",
            "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        }
    )
    env.update(extra)
    return env


@contextmanager
def service_process(env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m jobs`` in a child process, ready; always killed and reaped."""
    (Path(env["JOBS_RESOURCES_DIR"])).mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobs"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"python -m jobs exited: {proc.stderr.read()!r}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("python -m jobs did not answer within 60 s")
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
        if proc.stderr is not None:
            proc.stderr.close()
