"""The backend as a resident of its device, the warm-up, and CUDA out-of-memory (real HTTP)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch

from backend import Settings, create_app
from backend.deps import Services
from backend.memory import should_warm_up, warmup_request
from gpu_coord import read_status
from imagegen import LoadedPipeline
from tests.backend.conftest import wait_ready

pytestmark = pytest.mark.timeout(300)

ROUTE = "/v1/images/generations"
SMALL = {"prompt": "x", "size": "64x64", "num_inference_steps": 3}


class OutOfMemoryPipeline:
    """The real pipeline, except that its first ``failures`` calls run out of CUDA memory after
    their first step, as a real one does when a step's activations do not fit."""

    def __init__(self, pipe: Any, failures: int) -> None:
        self._pipe = pipe
        self.failures = failures
        self.calls = 0

    def __call__(self, *args: Any, callback_on_step_end: Any = None, **kwargs: Any) -> Any:
        self.calls += 1
        callback = callback_on_step_end
        if self.calls <= self.failures:

            def callback(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> Any:
                callback_on_step_end(pipe, step, timestep, tensors)
                raise torch.cuda.OutOfMemoryError(
                    "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total "
                    "capacity of 79.19 GiB of which 1.06 GiB is free."
                )

        return self._pipe(*args, callback_on_step_end=callback, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pipe, name)


@contextmanager
def serving(
    settings: Settings, live_server: Callable[..., Any]
) -> Iterator[tuple[httpx.Client, Services]]:
    """A live server on ``settings``: a client for it, and its services (to reach the model)."""
    app = create_app(settings)
    with live_server(app) as url, httpx.Client(base_url=url, timeout=60) as http:
        wait_ready(http.get)
        yield http, app.state.services


def _inject(services: Services, failures: int) -> OutOfMemoryPipeline:
    loaded = services.runtime.loaded
    assert loaded is not None
    wrapper = OutOfMemoryPipeline(loaded.pipe, failures)
    loaded.pipe = wrapper
    return wrapper


def test_out_of_memory_is_flushed_and_retried_once(
    settings_factory: Callable[..., Settings], live_server: Callable[..., Any]
) -> None:
    with serving(settings_factory(), live_server) as (http, services):
        wrapper = _inject(services, failures=1)
        resp = http.post(ROUTE, json=SMALL)
        assert resp.status_code == 200, resp.text
        assert wrapper.calls == 2
        wrapper.calls = 0  # the background job also runs out once, then succeeds
        job_id = http.post("/v1/images/jobs", json=SMALL).json()["id"]
        job = http.get(f"/v1/images/jobs/{job_id}").json()
        while job["status"] in ("queued", "running"):
            time.sleep(0.02)
            job = http.get(f"/v1/images/jobs/{job_id}").json()
        assert job["status"] == "succeeded", job
        events = http.get(f"/v1/images/jobs/{job_id}/events").text
        assert "event: retry" in events
        assert "CUDA out of memory" in events


def test_out_of_memory_twice_is_503_naming_need_and_budget(
    settings_factory: Callable[..., Settings],
    live_server: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Recorded NVML figures (gpu_coord's replay file): an 80 GB card with 70 GiB in use.
    nvml = tmp_path / "nvml.json"
    figures = {"name": "NVIDIA H100", "memory_total_bytes": 80 * 2**30}
    figures |= {"memory_used_bytes": 70 * 2**30, "utilization_percent": 100}
    nvml.write_text(json.dumps({"0": figures}))
    monkeypatch.setenv("GPU_COORD_NVML_FILE", str(nvml))
    with serving(settings_factory(), live_server) as (http, services):
        wrapper = _inject(services, failures=2)
        resp = http.post(ROUTE, json=SMALL)
        assert resp.status_code == 503, resp.text
        print(resp.json()["error"]["message"])
        assert wrapper.calls == 2  # one retry, no more
        error = resp.json()["error"]
        assert error["type"] == "server_error"
        assert error["code"] == "gpu_out_of_memory"
        assert "weights" in error["message"]
        assert "the memory budget said" in error["message"]
        assert "GiB was free" in error["message"]
        assert "Tried to allocate 2.00 GiB" in error["message"]
        assert resp.headers["Retry-After"] == "5"
        # A background job fails the same way, with the same envelope object.
        wrapper.calls = 0
        job_id = http.post("/v1/images/jobs", json=SMALL).json()["id"]
        job = http.get(f"/v1/images/jobs/{job_id}").json()
        while job["status"] in ("queued", "running"):
            time.sleep(0.02)
            job = http.get(f"/v1/images/jobs/{job_id}").json()
        assert job["status"] == "failed"
        assert job["error"]["code"] == "gpu_out_of_memory"
        # The backend stays up, and the next request works.
        wrapper.failures = 0
        ok = http.post(ROUTE, json=SMALL)
        assert ok.status_code == 200, ok.text
        metrics = http.get("/metrics").text
        assert 'backend_generation_failures_total{reason="out_of_memory"} 2.0' in metrics


def test_the_backend_is_a_resident_of_its_device_while_it_serves(
    settings_factory: Callable[..., Settings], live_server: Callable[..., Any], coord_path: Path
) -> None:
    with serving(settings_factory(), live_server) as (http, services):
        status = http.get("/gpu-status").json()
        (me,) = status["residents"]
        assert me["owner"] == "backend"
        assert me["resident_bytes"] == 0  # on the CPU it holds nothing on a GPU
        assert me["headroom_bytes"] == 0
        memory = services.runtime.memory
        assert memory is not None
        assert memory.warmup is None  # no warm-up off CUDA unless asked
    assert read_status(coord_path)["residents"] == []  # gone when the app stops


def test_the_warm_up_runs_when_asked_before_ready(
    settings_factory: Callable[..., Settings], live_server: Callable[..., Any]
) -> None:
    settings = settings_factory(warmup=True, max_size=128, max_n=2)
    with serving(settings, live_server) as (_, services):
        memory = services.runtime.memory
        assert memory is not None
        assert memory.warmup == "128x128 n=2 guidance=7.5"
        assert memory.warmup_seconds is not None
        assert memory.warmup_seconds > 0
        assert memory.peak_working_bytes is None  # torch's figures exist on CUDA only


def _loaded(device: str = "cpu") -> LoadedPipeline:
    return LoadedPipeline(
        model_id="m",
        pipe=object(),
        device=device,
        dtype=torch.float32,
        default_width=512,
        default_height=512,
        default_steps=30,
        default_guidance=0.0,
    )


def test_the_warm_up_asks_for_the_largest_request_allowed(
    settings_factory: Callable[..., Settings],
) -> None:
    # The largest square within max_pixels, then as many images as the work budget allows.
    settings = settings_factory(max_size=1024, max_pixels=512 * 512, max_n=4)
    request = warmup_request(_loaded(), settings)
    assert (request.width, request.height, request.steps) == (512, 512, 1)
    assert request.n == 3  # 512 x 512 x 40 pixel-steps on the CPU: three of 11 steps each
    assert request.guidance == 2.0  # guidance on: the denoiser's batch doubles
    assert warmup_request(_loaded("cuda"), settings).n == 4
    assert should_warm_up(settings, "cuda:1")
    assert not should_warm_up(settings, "cpu")
    assert should_warm_up(settings_factory(warmup=True), "cpu")
    assert not should_warm_up(settings_factory(warmup=False), "cuda")


@pytest.mark.parametrize(("text", "expected"), [("auto", None), ("", None), ("false", False)])
def test_backend_warmup_reads_auto_true_false(
    settings_factory: Callable[..., Settings], text: str, expected: bool | None
) -> None:
    assert settings_factory(warmup=text).warmup is expected
