"""The dashboard in a real headless Chromium, on a real host: a jobs service, a backend on the
tiny model, a benchmark run and ``python -m gpu_coord hold``, all on one lease folder.

One browser session and one host for the module. ``GPU_SHARE_SCREENSHOTS=1`` writes the
page's screenshots into docs/ (``docs/dashboard.png``, ``docs/dashboard-phone.png``);
otherwise they go to the test's temp folder.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend import Settings as BackendSettings
from gpu_coord import resident
from tests.backend.conftest import ready_server
from tests.browser import browser, console_errors, ensure_chromium, screenshot, wait_until
from tests.jobs.jobs_helpers import REPO, live_server, make_settings, wait_status

# The first test's set-up loads the tiny model twice and, in CI, may apt-install Chromium.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
GiB = 1024**3
# Recorded NVML figures (GPU_COORD_NVML_FILE replaces the card, never the lease): a 24 GiB card.
CARD = {"0": {"name": "recorded 24 GiB card", "memory_total_bytes": 24 * GiB,
              "memory_used_bytes": 15 * GiB, "utilization_percent": 35}}  # fmt: skip
PROMPTS = "a red fox in the snow\na lighthouse at dusk\na bowl of ramen\n"


@dataclass
class Host:
    url: str
    coord: Path
    backend_url: str
    runner: subprocess.Popen[bytes]
    runner_log: Path
    shots: Path
    http: httpx.Client


def _runner_config(root: Path, pipeline: Path) -> Path:
    config = root / "benchmark.toml"
    config.write_text(
        '[run]\nseeds = [0]\ndevice = "cpu"\nimage_timeout_s = 120\nload_timeout_s = 240\n'
        "score = false\n\n"
        f'[[models]]\nname = "tiny"\npath = "{pipeline}"\nsteps = 2\nguidance = 1.0\n'
        'width = 64\nheight = 64\ndtype = "float32"\n'
    )
    return config


def _stop(runner: subprocess.Popen[bytes]) -> None:
    """SIGKILL the runner's whole session (its worker too) if it still runs; reap it."""
    if runner.poll() is None:
        os.killpg(runner.pid, signal.SIGKILL)
    runner.wait(30)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory, tiny_models: Any) -> Iterator[Host]:
    ensure_chromium()  # before starting anything: a skip here costs nothing
    root = tmp_path_factory.mktemp("dashboard")
    coord = root / "coord" / "status.json"
    (root / "nvml.json").write_text(json.dumps(CARD))
    results, data = root / "results", root / "data"
    data.mkdir()
    (data / "scenes.txt").write_text(PROMPTS)
    with ExitStack() as stack, pytest.MonkeyPatch.context() as patch:
        patch.setenv("GPU_COORD_NVML_FILE", str(root / "nvml.json"))
        patch.setenv("GPU_COORD_PATH", str(coord))
        # The benchmark run: a real runner on the tiny model, in its own session.
        env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
               "HF_HUB_OFFLINE": "1"}  # fmt: skip
        log = root / "runner.log"
        out = stack.enter_context(open(log, "wb"))
        runner = subprocess.Popen(
            [sys.executable, "-m", "benchmark", "run", "--config",
             str(_runner_config(root, tiny_models.pipeline)), "--data-dir", str(data),
             "--results-dir", str(results)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        stack.callback(_stop, runner)
        # A resident the memory bar splits out (as a loaded model registers itself).
        stack.enter_context(resident("trainer", path=coord, resident_bytes=6 * GiB,
                                     headroom_bytes=GiB))  # fmt: skip
        backend_settings = BackendSettings(
            _env_file=None,  # type: ignore[call-arg]
            model=str(tiny_models.pipeline), gpu_coord_path=coord, image_dir=root / "images",
            api_key=None, max_wait=None, device="cpu", request_timeout=120.0,
        )  # fmt: skip
        backend_url = stack.enter_context(ready_server(backend_settings))
        settings = make_settings(
            root / "jobs", gpu_coord_path=coord, backend_url=backend_url, results_dir=results
        )
        url, _ = stack.enter_context(live_server(settings))
        http = stack.enter_context(httpx.Client(base_url=url, timeout=30))
        shots = Path("docs") if os.environ.get("GPU_SHARE_SCREENSHOTS") == "1" else root
        yield Host(url, coord, backend_url, runner, log, REPO / shots, http)


@pytest.fixture(scope="module")
def page(host: Host) -> Iterator[Any]:
    with browser() as driver:
        driver.get(host.url + "/")
        wait_until(
            lambda: driver.find_element("id", "updated").text.startswith("updated"),
            timeout=20, what="the page's first update", driver=driver,
        )  # fmt: skip
        yield driver


def text(driver: Any, css: str) -> str:
    """The text of the first element matching ``css`` (in one script: the page re-renders
    every second, so an element found in one call may be gone by the next)."""
    script = "const e = document.querySelector(arguments[0]); return e ? e.innerText : ''"
    return str(driver.execute_script(script, css)).strip()


def present(driver: Any, css: str) -> bool:
    return bool(driver.execute_script("return !!document.querySelector(arguments[0])", css))


def test_the_page_loads_without_console_errors(page: Any) -> None:
    time.sleep(2.5)  # a few polls
    assert console_errors(page) == []
    for panel in ("lease", "timeline", "backend", "runner", "jobs"):
        assert page.find_element("id", panel).is_displayed()
    assert "6.0 GiB" in text(page, "#lease-devices")  # the resident's share of the bar
    assert "unaccounted" in text(page, "#lease-devices")


def _hold(host: Host, owner: str, priority: str, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gpu_coord", "--path", str(host.coord), "hold", "--owner", owner,
         "--priority", priority, "--seconds", str(seconds)],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def _reap(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(30)
    if proc.stdout is not None:
        proc.stdout.close()


def test_a_hold_shows_as_holder_within_2s_and_in_the_timeline(host: Host, page: Any) -> None:
    # The runner may hold the lease: the hold is high so it is granted at the runner's next step.
    hold = _hold(host, "maintenance", "high", 3.0)
    try:
        assert hold.stdout is not None
        assert json.loads(hold.stdout.readline())["owner"] == "maintenance"  # granted now
        granted = time.monotonic()
        wait_until(
            lambda: text(page, "[data-testid=holder-0]") == "maintenance",
            timeout=2.0, what="the hold shown as the holder", driver=page,
        )  # fmt: skip
        assert time.monotonic() - granted < 2.0
        assert hold.wait(30) == 0
    finally:
        _reap(hold)
    closed = "rect.span[data-owner=maintenance][data-open=false]"
    wait_until(
        lambda: present(page, closed),
        timeout=5, what="the released hold in the timeline", driver=page,
    )  # fmt: skip
    page.find_element("css selector", "[data-zoom='300']").click()
    assert present(page, closed)  # still there zoomed to 5 minutes
    assert console_errors(page) == []


def test_a_forced_run_is_a_hatched_bar_from_grant_to_release(host: Host, page: Any) -> None:
    # A high holder never yields, so a second high caller with max_wait goes ahead forced.
    blocker = _hold(host, "blocker", "high", 4.0)
    forced = None
    try:
        assert blocker.stdout is not None
        json.loads(blocker.stdout.readline())
        forced = subprocess.Popen(
            [sys.executable, "-m", "gpu_coord", "--path", str(host.coord), "hold", "--owner",
             "impatient", "--priority", "high", "--max-wait", "0.05", "--seconds", "1.0"],
            cwd=REPO, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert forced.stdout is not None
        assert json.loads(forced.stdout.readline())["forced"] is True
        assert forced.wait(30) == 0
    finally:
        if forced is not None:
            _reap(forced)
        _reap(blocker)
    bar = "rect.span.forced[data-owner=impatient][data-forced=true][data-open=false]"
    wait_until(
        lambda: present(page, bar),
        timeout=5, what="the forced run as a bar in the timeline", driver=page,
    )  # fmt: skip
    script = (
        "const r = document.querySelector(arguments[0]);"
        " return [r.style.fill, r.querySelector('title').textContent]"
    )
    fill, title = page.execute_script(script, bar)
    assert fill.startswith("url(")  # hatched, not a solid owner colour
    assert "forced: ran without the lease" in title
    # A bar from its grant to its release (its 1 s hold), not a mark.
    held = re.search(r" for (\d+(?:\.\d+)?) s, release", title)
    assert held is not None, title
    assert float(held.group(1)) >= 0.9
    assert console_errors(page) == []


def test_a_generation_shows_in_the_queue(host: Host, page: Any) -> None:
    # While a high hold has the GPU, the backend's worker waits for the lease with the first
    # generation and the second one waits in its queue.
    hold = _hold(host, "hold-for-queue", "high", 60.0)
    answers: list[int] = []
    try:
        assert hold.stdout is not None
        json.loads(hold.stdout.readline())

        def generate(seed: int) -> None:
            body = {"prompt": "a cat", "size": "64x64", "num_inference_steps": 2, "seed": seed}
            with httpx.Client(base_url=host.backend_url, timeout=120) as http:
                answers.append(http.post("/v1/images/generations", json=body).status_code)

        threads = [threading.Thread(target=generate, args=(s,)) for s in (1, 2)]
        for thread in threads:
            thread.start()
            time.sleep(0.3)
        wait_until(
            lambda: text(page, "[data-testid=backend-queue]") == "1",
            timeout=10, what="queue depth 1 on the page", driver=page,
        )  # fmt: skip
        wait_until(
            lambda: "backend" in text(page, "[data-testid=waiters-0]"),
            timeout=5, what="the backend among the lease's waiters", driver=page,
        )  # fmt: skip
        listed = httpx.get(f"{host.backend_url}/v1/images/jobs", params={"status": "running"})
        if listed.status_code == 200:  # the backend lists its requests: the page shows which
            running = listed.json()["data"][0]["id"]
            wait_until(
                lambda: text(page, "[data-testid=backend-running]") == running,
                timeout=5, what=f"the running request {running}", driver=page,
            )  # fmt: skip
    finally:
        _reap(hold)  # SIGKILL: the lease is free at once
    for thread in threads:
        thread.join(120)
    assert answers == [200, 200]
    wait_until(
        lambda: "p50" in text(page, "#backend-body"),
        timeout=10, what="the generations' latency", driver=page,
    )  # fmt: skip
    assert text(page, "[data-testid=backend-queue]") == "0"


def test_the_runner_shows_its_run_and_thumbnails(host: Host, page: Any) -> None:
    wait_until(
        lambda: text(page, "[data-testid=runner-done]").startswith("3 of 3"),
        timeout=240, what="the benchmark run's 3 images", driver=page,
    )  # fmt: skip
    assert host.runner.wait(120) == 0, host.runner_log.read_text()[-3000:]
    wait_until(
        lambda: "finished" in text(page, "[data-testid=runner-state]"),
        timeout=5, what="the run shown finished", driver=page,
    )  # fmt: skip
    loaded = "return [...document.querySelectorAll('#runner-images img')].map(i => i.naturalWidth)"
    assert wait_until(
        lambda: (w := page.execute_script(loaded)) and all(w) and w,
        timeout=5,
        what="3 loaded thumbnails",
        driver=page,
    ) == [64, 64, 64]


@pytest.mark.docker
def test_a_job_shows_with_its_log(host: Host, page: Any, job_image: str) -> None:
    spec = {"image": job_image, "name": "dash-ticker", "timeout": 60,
            "resources": {"storage": "64MiB"},
            "script": "head -c 3145728 /dev/urandom > /output/blob; "
                      "python3 /usr/local/bin/jobtool.py tick 80 0.1"}  # fmt: skip
    job_id = host.http.post("/v1/jobs", json=spec).json()["id"]
    log = f"[data-testid=log-{job_id}]"
    wait_until(
        lambda: "tick 5" in text(page, log),
        timeout=60, what="the running job's log tail", driver=page,
    )  # fmt: skip
    # Its disk use, measured while it runs, against its storage limit.
    disk = f"[data-testid=disk-{job_id}]"
    wait_until(
        lambda: re.fullmatch(r"disk 3\.\d MiB of 64\.0 MiB", text(page, disk)),
        timeout=10, what="the running job's disk use", driver=page,
    )  # fmt: skip
    shot = screenshot(page, host.shots / "dashboard.png", width=1280)
    assert shot.stat().st_size > 20_000
    wait_status(host.http, job_id, {"succeeded"}, timeout=60)
    wait_until(
        lambda: job_id in text(page, "#jobs-body") and "succeeded" in text(page, "#jobs-body"),
        timeout=5, what="the job among the finished", driver=page,
    )  # fmt: skip
    assert console_errors(page) == []


def test_usable_at_phone_width(host: Host, page: Any) -> None:
    page.set_window_size(390, 900)
    time.sleep(1.5)
    overflow = page.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px at 390 px"
    screenshot(page, host.shots / "dashboard-phone.png", width=390)
    assert console_errors(page) == []
