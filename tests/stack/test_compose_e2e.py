"""End to end: the real images and docker-compose.yml on a real engine, CPU only.

Builds both images on a local Debian base with the CPU torch wheel, brings the stack
up with the repository's docker-compose.yml (the GPU reservation removed, nothing
else changed), and checks what a user does: /gpu-status, one generation, a prompt
set dropped into research/data giving results, and that killing the runner's
container in the middle of an image frees the lease at once. The unchanged file is
also checked to fail on this GPU-less host with the driver error the docs explain.
``down -v`` always runs.

When: always in CI (``CI=true``) and with ``GPU_SHARE_E2E=1``, installing and starting
the engine if needed; elsewhere only where a Docker engine already answers, skipping
with a hint otherwise; ``GPU_SHARE_E2E=0`` skips it. The images build with layer
caching, so a second run skips the dependency layers.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.stack.stack_compose import COMPOSE_FILE, Stack, free_port
from tests.stack.stack_engine import (
    BASE_IMAGE,
    ENABLE_HINT,
    ROOT,
    compose_command,
    e2e_mode,
    engine_answers,
    ensure_base_image,
    ensure_engine,
    find_torch_wheel,
    image_exists,
    progress,
    run,
    stage_build_inputs,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1500)]

RESEARCH_IN = "/app/research"  # where compose mounts the research copy
TINY_CONFIG = "research/benchmark.tiny.toml"
APP_UID = 1000  # the images' default user; the results copy is handed to it when root runs
SMOKE_PROMPTS = ["a red fox in fresh snow", "a lighthouse at dusk", "a bowl of ramen"]


def _require_or_skip() -> list[str]:
    """The compose command to use, after making sure an engine answers (or skipping)."""
    mode, why = e2e_mode()
    if mode == "skip":
        pytest.skip(why)
    if mode == "required":
        progress(f"compose end-to-end test required ({why})")
        ensure_engine()
    elif not engine_answers():
        pytest.skip(f"no Docker engine answers (docker info failed): {ENABLE_HINT}")
    compose = compose_command()
    if compose is None:
        if mode == "required":
            pytest.fail("a Docker engine answers but no compose command exists")
        pytest.skip(f"no docker compose / docker-compose command: {ENABLE_HINT}")
    if mode != "required" and os.geteuid() != 0 and not image_exists(BASE_IMAGE):
        pytest.skip(
            "the local base image is missing and building it needs root: "
            "sudo scripts/docker/build-base-image.sh"
        )
    return compose


def _research_copy(dest: Path) -> Path:
    """research/ without its data, results and models, plus freshly built tiny models."""
    progress(f"copying research/ to {dest} and building the tiny models there")
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(
        ROOT / "research",
        dest,
        ignore=lambda folder, names: (
            {"data", "benchmark_results", "models"} & set(names)
            if Path(folder) == ROOT / "research"
            else ignore(folder, names)
        ),
    )
    for name in ("data", "benchmark_results", "models"):
        (dest / name).mkdir()
    run(
        [sys.executable, "-m", "imagegen.tiny", "--out", str(dest / "models" / "tiny")], timeout=300
    )
    # The containers' user must read everything (safetensors files are written 0600).
    run(["chmod", "-R", "a+rX", str(dest)], timeout=60)
    return dest


def _drop(data_dir: Path, name: str, prompts: list[str]) -> Path:
    """Write a prompt set the way a user would, appearing whole (no half-read file)."""
    part = data_dir.parent / f".{name}.part"
    part.write_text(json.dumps(prompts), encoding="utf-8")
    target = data_dir / name
    os.chmod(part, 0o644)
    part.replace(target)
    return target


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The stack, built and up, healthy and ready; torn down with ``down -v`` always."""
    compose = _require_or_skip()
    work = tmp_path_factory.mktemp("stack")
    os.chmod(work, 0o755)
    base = ensure_base_image()
    wheel = find_torch_wheel(Path.home() / ".cache" / "gpu-share" / "wheels")
    certs_dir, wheels_dir = stage_build_inputs(wheel)
    research = _research_copy(work / "research")
    uid, gid = (APP_UID, APP_UID) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    os.chown(research / "benchmark_results", uid, gid)
    (research / "benchmark_results" / "jobs").mkdir()
    os.chown(research / "benchmark_results" / "jobs", uid, gid)
    settings = {
        "BASE_IMAGE": base,
        "BUILD_CERTS_DIR": certs_dir,
        "BUILD_WHEELS_DIR": wheels_dir,
        "APP_UID": str(uid),
        "APP_GID": str(gid),
        "IMAGE_TAG": "e2e-cpu",
        "RESEARCH_DIR": str(research),
        "BACKEND_MODEL": f"{RESEARCH_IN}/models/tiny/tiny-sd",
        "BACKEND_MAX_WAIT": "60",
        "BENCHMARK_CONFIG": TINY_CONFIG,
        "BACKEND_HOST_PORT": str(free_port()),
        "HF_HUB_OFFLINE": "1",
        "JOBS_HOST_PORT": str(free_port()),
        "DOCKER_GID": str(os.stat("/var/run/docker.sock").st_gid),
    }
    st = Stack(compose, work, settings)
    progress(f"compose: {' '.join(compose)}; work folder {work}; log {st.log}")
    st.down()  # what a killed earlier run may have left
    try:
        started = time.monotonic()
        progress("building the images (cached layers are reused)")
        st.compose(
            "build", timeout=1200, echo=(" RUN ", "[build-env]", "Successfully tagged", "naming to")
        )
        progress(f"images built in {time.monotonic() - started:.0f} s")
        started = time.monotonic()
        st.compose("up", "-d", timeout=900)
        st.wait_healthy("backend", timeout=600)
        st.wait_healthy("jobs", timeout=300)
        ready = st.wait_ready(timeout=300)
        progress(f"stack up and ready in {time.monotonic() - started:.0f} s: {ready}")
        yield st
    finally:
        for service in ("backend", "benchmark", "jobs"):
            (work / f"{service}.log").write_text(st.logs(service, 400))
        progress(f"compose down -v (service logs kept in {work})")
        st.down()


def test_gpu_reservation_without_toolkit_fails_with_driver_error(stack: Stack) -> None:
    """The unchanged file on a host without the NVIDIA runtime fails as docs/deployment.md says."""
    info = run(["docker", "info", "--format", "{{json .Runtimes}}"], timeout=60).stdout
    if "nvidia" in info:
        pytest.skip("this engine has the NVIDIA runtime: the reservation would succeed")
    settings = dict(stack.settings, BACKEND_HOST_PORT=str(free_port()))
    plain = Stack(
        stack.compose_cmd,
        stack.workdir,
        settings,
        compose_file=COMPOSE_FILE,
        project="gpushare-e2e-gpu",
    )
    try:
        output = plain.compose("up", "-d", "--no-build", "backend", timeout=300, check=False)
    finally:
        plain.down()
    assert 'could not select device driver "nvidia"' in output, output[-2000:]


def test_gpu_status_reports_the_shared_lease(stack: Stack) -> None:
    answer = stack.get("/gpu-status")
    assert answer.status_code == 200, answer.text
    status = answer.json()
    for key in ("busy", "owner", "since", "generation", "waiters", "devices"):
        assert key in status, f"/gpu-status lacks {key!r}: {status}"
    assert status["path"] == "/gpu_coord/status.json"
    assert status["owner"] in (None, "backend", "benchmark")
    # The same record, read on the shared volume from the runner's container.
    lines = stack.exec_json_lines("benchmark", "python", "-m", "gpu_coord", "status", "--json")
    assert [line["path"] for line in lines] == ["/gpu_coord/status.json"], lines


def test_one_generation(stack: Stack) -> None:
    answer = stack.post(
        "/v1/images/generations",
        {
            "prompt": "a red fox in fresh snow",
            "size": "64x64",
            "n": 1,
            "num_inference_steps": 2,
            "seed": 7,
            "response_format": "b64_json",
        },
    )
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert len(data) == 1
    image = Image.open(io.BytesIO(base64.b64decode(data[0]["b64_json"])))
    assert image.format == "PNG"
    assert image.size == (64, 64)
    last = stack.get("/gpu-status").json()["last_release"]
    assert last is not None
    assert last["generation"] >= 1, last


def test_prompt_set_dropped_into_data_gives_results(stack: Stack) -> None:
    research = Path(stack.settings["RESEARCH_DIR"])
    config = tomllib.loads((research / "benchmark.tiny.toml").read_text(encoding="utf-8"))
    models = [model["name"] for model in config["models"]]
    per_model = len(SMOKE_PROMPTS) * len(config["run"]["seeds"])
    _drop(research / "data", "e2e_smoke.json", SMOKE_PROMPTS)
    progress(f"dropped e2e_smoke.json: waiting for {per_model} images x {len(models)} models")
    images = research / "benchmark_results" / "images" / "e2e_smoke"
    reports = research / "benchmark_results" / "reports"
    deadline = time.monotonic() + 600
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        now = {m: len(list((images / m).glob("*.png"))) for m in models}
        if now != counts:
            progress(f"  images so far: {now}")
            counts = now
        done = all(n == per_model for n in counts.values())
        if done and any(reports.glob("*/report.json")):
            break
        time.sleep(2)
    else:
        pytest.fail(f"results incomplete after 600 s: {counts}\n{stack.logs('benchmark', 60)}")
    report = json.loads(next(reports.glob("*/report.json")).read_text(encoding="utf-8"))
    assert report, "empty report.json"
    assert (research / "benchmark_results" / "benchmark.sqlite3").is_file()


def _kill_mid_image(stack: Stack, attempts: int = 5) -> tuple[dict[str, Any], float]:
    """SIGKILL the runner's container while it holds the lease; the status read right after."""
    for attempt in range(1, attempts + 1):
        deadline = time.monotonic() + 300
        for status in stack.gpu_status_samples():
            if status["busy"] and status["owner"] == "benchmark":
                break
            if time.monotonic() > deadline:
                pytest.fail("the runner never held the lease\n" + stack.logs("benchmark", 60))
        runner = stack.container("benchmark")
        killed = time.monotonic()
        run(["docker", "kill", runner], timeout=60)
        # docker kill returns once the signal is sent: poll until the lock is seen free.
        while (after := stack.get("/gpu-status").json())["busy"]:
            if time.monotonic() - killed > 10:  # a generous safety bound, not a speed target
                pytest.fail(f"the lease is still busy 10 s after the kill: {after}")
            time.sleep(0.05)
        freed_in = time.monotonic() - killed
        if after["stale"]:
            return after, freed_in
        # The image ended between the sample and the kill: start the runner again.
        progress(f"  attempt {attempt}: the kill landed between images; again")
        stack.compose("up", "-d", "--no-build", "benchmark", timeout=300)
    pytest.fail(f"no kill landed mid-image in {attempts} attempts")


def test_killing_the_runner_mid_image_frees_the_lease_at_once(stack: Stack) -> None:
    research = Path(stack.settings["RESEARCH_DIR"])
    prompts = [f"a study of light, number {i}" for i in range(40)]
    _drop(research / "data", "e2e_kill.json", prompts)
    progress("dropped e2e_kill.json: killing the runner's container while it holds the lease")
    after, freed_in = _kill_mid_image(stack)
    progress(f"runner killed mid-image; /gpu-status answered free {freed_in:.2f} s after the kill")
    assert after["busy"] is False, after
    assert after["stale_holder"]["owner"] == "benchmark", after
    # The backend gets the GPU at once, not forced past the lease.
    answer = stack.post(
        "/v1/images/generations",
        {
            "prompt": "after the crash",
            "size": "64x64",
            "num_inference_steps": 2,
        },
    )
    assert answer.status_code == 200, answer.text
    status = stack.get("/gpu-status").json()
    assert status["last_release"]["owner"] == "backend", status
    assert status["forced"] is False, status
    assert status["forced_holders"] == [], status
    state = run(
        ["docker", "inspect", "-f", "{{.State.ExitCode}}", stack.container("benchmark")], timeout=60
    ).stdout.strip()
    assert state == "137", f"runner exit code {state}, expected 137 (SIGKILL)"


def test_one_job_through_the_stack(stack: Stack) -> None:
    """A job submitted to the jobs service runs in a sibling container with the right mounts.

    The job reads the workspace at /resources, its own file in /work, and writes its result
    to /output: the result shows in the API and on the host, so the host paths the service
    gave the engine were the right ones.
    """
    research = Path(stack.settings["RESEARCH_DIR"])
    (research / "jobs-e2e.txt").write_text("from the workspace\n")
    os.chmod(research / "jobs-e2e.txt", 0o644)
    jobs_url = f"http://127.0.0.1:{stack.settings['JOBS_HOST_PORT']}"
    script = (
        "cat /resources/jobs-e2e.txt\ncat input.txt\n"
        'python3 -c \'import json; json.dump({"ok": 1}, open("/output/result.json", "w"))\'\n'
    )
    answer = httpx.post(
        f"{jobs_url}/v1/jobs",
        json={
            "image": BASE_IMAGE,
            "files": [{"path": "input.txt", "content": "from the request"}],
            "script": script,
            "resources": {"ram": "128MB"},
        },
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    job_id = answer.json()["id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = httpx.get(f"{jobs_url}/v1/jobs/{job_id}", timeout=30).json()
        if job["status"] not in {"queued", "running", "paused"}:
            break
        time.sleep(0.5)
    assert job["status"] == "succeeded", (job, stack.logs("jobs", 60))
    assert job["result"] == {"ok": 1}
    assert job["log_tail"] == ["from the workspace", "from the request"]
    on_host = research / "benchmark_results" / "jobs" / "jobs" / job_id / "output" / "result.json"
    assert json.loads(on_host.read_text()) == {"ok": 1}
