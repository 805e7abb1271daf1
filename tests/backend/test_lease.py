"""The backend and other real processes on one lease: /gpu-status, yielding, crashes, forcing.

Holders are ``python -m gpu_coord hold`` child processes on the same record (GPU_COORD_PATH
points at the test's tmp folder for both), killed with real signals.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from backend import Settings
from backend.lease import backend_lease, backend_lease_device

pytestmark = pytest.mark.timeout(300)

ROUTE = "/v1/images/generations"


@pytest.fixture
def stubborn(
    settings_factory: Callable[..., Settings],
    ready_client: Callable[[Settings], Any],
    hold: Callable[..., Any],
) -> Iterator[tuple[Any, Any]]:
    """A ready backend with no max_wait, and a low holder that never checkpoints."""
    with (
        ready_client(settings_factory(max_wait=None)) as c,
        hold("--priority", "low") as holder,
    ):
        yield c, holder


def _waiters_when(
    c: Any, check: Callable[[list[dict[str, Any]]], bool], timeout: float = 60.0
) -> list[dict[str, Any]]:
    """``/gpu-status``'s waiters once ``check`` accepts them (the last seen at the timeout)."""
    deadline = time.monotonic() + timeout
    waiters: list[dict[str, Any]] = c.get("/gpu-status").json()["waiters"]
    while not check(waiters) and time.monotonic() < deadline:
        time.sleep(0.05)
        waiters = c.get("/gpu-status").json()["waiters"]
    return waiters


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match is not None, name
    return float(match.group(1))


def test_gpu_status_follows_a_holder_and_its_crash(
    client: TestClient,
    hold: Callable[..., Any],
) -> None:
    idle = client.get("/gpu-status").json()
    assert idle["busy"] is False
    assert idle["owner"] is None

    with hold("--priority", "low") as holder:
        before = datetime.now(UTC)
        status = client.get("/gpu-status")
        assert status.status_code == 200
        held = status.json()
        assert held["busy"] is True
        assert held["owner"] == "bench-holder"
        assert held["priority"] == "low"
        assert held["pid"] == holder.proc.pid
        since = datetime.fromisoformat(held["since"])
        assert since.tzinfo is not None
        assert abs((before - since).total_seconds()) < 60
        assert held["stale"] is False
        assert [d["gpu"] for d in held["devices"]] == [0]
        assert "memory_used_bytes" in held  # None here (no GPU); bytes where NVML sees one

        holder.kill()  # SIGKILL: no release, the record still says busy
        after = client.get("/gpu-status").json()
        assert after["busy"] is False
        assert after["owner"] is None
        assert after["stale"] is True
        assert after["stale_holder"]["owner"] == "bench-holder"
        assert "stale" in after["reason"]


def test_backend_is_served_within_a_step_of_a_checkpointing_holder(
    settings_factory: Callable[..., Settings],
    ready_client: Callable[[Settings], Any],
    hold: Callable[..., Any],
) -> None:
    # The holder checkpoints every 20 ms, like a pipeline between steps, and would otherwise
    # keep the GPU for two minutes.
    with (
        ready_client(settings_factory(max_wait=None)) as c,
        hold("--priority", "low", "--checkpoint-ms", "20") as holder,
    ):
        start = time.monotonic()
        resp = c.post(ROUTE, json={"prompt": "x", "num_inference_steps": 2, "seed": 1})
        elapsed = time.monotonic() - start
        assert resp.status_code == 200, resp.text
        assert elapsed < 60  # generous: the holder alone would take 120 s
        holder.wait_event("yielded")
        metrics = c.get("/metrics").text
        # Waited about one 20 ms step, not the holder's 120 s (generous bound for a busy CI box).
        assert _metric(metrics, "backend_lease_wait_seconds_sum") < 5.0
        assert _metric(metrics, "backend_forced_leases_total") == 0.0
        # The holder resumed and holds the GPU again.
        assert holder.proc.poll() is None
        status: dict[str, Any] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = c.get("/gpu-status").json()
            if status["owner"] == "bench-holder":
                break
            time.sleep(0.05)
        assert status["busy"] is True
        assert status["owner"] == "bench-holder"
        assert status["last_release"]["owner"] == "backend"


def test_waiting_backend_shows_as_waiter_and_gets_the_gpu_when_the_holder_dies(
    stubborn: tuple[Any, Any],
) -> None:
    c, holder = stubborn  # the backend (no max_wait) waits, visibly
    answers: list[httpx.Response] = []
    request = threading.Thread(
        target=lambda: answers.append(c.post(ROUTE, json={"prompt": "x", "num_inference_steps": 1}))
    )
    request.start()
    try:
        waiters = _waiters_when(c, bool)
        assert [w["owner"] for w in waiters] == ["backend"]
        assert waiters[0]["priority"] == "high"
        assert c.get("/metrics").text.count("backend_queue_depth 0.0") == 1
        holder.kill()
    finally:
        request.join(120)
    assert not request.is_alive()
    assert answers[0].status_code == 200, answers[0].text
    assert c.get("/gpu-status").json()["waiters"] == []


def test_max_wait_forces_ahead_and_counts_it(
    settings_factory: Callable[..., Settings],
    ready_client: Callable[[Settings], Any],
    hold: Callable[..., Any],
) -> None:
    with (
        ready_client(settings_factory(max_wait=0.3)) as c,
        hold("--priority", "low"),
    ):
        resp = c.post(ROUTE, json={"prompt": "x", "num_inference_steps": 1})
        assert resp.status_code == 200, resp.text
        metrics = c.get("/metrics").text
        assert _metric(metrics, "backend_forced_leases_total") == 1.0
        assert _metric(metrics, "backend_lease_wait_seconds_sum") >= 0.3
        status = c.get("/gpu-status").json()
        assert status["owner"] == "bench-holder"  # the holder kept its lease throughout


def test_readyz_is_503_while_the_model_cannot_get_the_gpu(
    settings_factory: Callable[..., Settings],
    wait_for: Callable[[Callable[[], bool], float, str], None],
    hold: Callable[..., Any],
) -> None:
    # The model loads inside a high-priority lease; another high holder keeps it loading.
    settings = settings_factory(max_wait=None)
    with hold("--priority", "high") as holder:
        from backend import create_app

        with TestClient(create_app(settings), raise_server_exceptions=False) as c:
            assert c.get("/healthz").status_code == 200
            ready = c.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["status"] == "loading"
            gen = c.post(ROUTE, json={"prompt": "x"})
            assert gen.status_code == 503
            assert gen.json()["error"]["code"] == "model_not_ready"
            assert gen.headers["retry-after"]
            assert "backend_model_ready 0.0" in c.get("/metrics").text
            holder.kill()
            wait_for(lambda: c.get("/readyz").status_code == 200, 120, "the model to load")
            assert c.post(ROUTE, json={"prompt": "x", "num_inference_steps": 1}).status_code == 200


def test_gpu_status_survives_a_garbage_record(client: TestClient, coord_path: Path) -> None:
    coord_path.parent.mkdir(parents=True, exist_ok=True)
    coord_path.write_bytes(b'{"busy": tru\x00\xff')
    resp = client.get("/gpu-status")
    assert resp.status_code == 200
    body = resp.json()
    assert body["busy"] is False
    assert body["owner"] is None
    assert body["reason"]


def test_gpu_status_lists_every_device(
    client: TestClient,
    hold: Callable[..., Any],
) -> None:
    with hold("--priority", "low", "--device", "1"):
        body = client.get("/gpu-status").json()
        assert body["gpu"] == 0  # the backend's own device at the top level
        assert body["busy"] is False
        by_index = {d["gpu"]: d for d in body["devices"]}
        assert set(by_index) == {0, 1}
        assert by_index[1]["busy"] is True
        assert by_index[1]["owner"] == "bench-holder"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"device": "cpu"}, 0),
        ({"device": "cuda:2"}, 2),  # the model's device decides the lease...
        ({"device": "cuda"}, 0),
        ({"device": "cuda:2", "gpu_device": 5}, 5),  # ...unless BACKEND_GPU_DEVICE says
        ({"device": "mps"}, 0),
    ],
)
def test_the_lease_follows_the_models_device(
    settings_factory: Callable[..., Settings], overrides: dict[str, Any], expected: int
) -> None:
    settings = settings_factory(**overrides)
    assert backend_lease_device(settings) == expected
    assert backend_lease(settings).device == expected


def test_a_job_cancelled_while_waiting_for_the_lease_frees_the_worker_at_once(
    stubborn: tuple[Any, Any],
) -> None:
    c, holder = stubborn  # only the cancel can end the backend's wait
    job = c.post("/v1/images/jobs", json={"prompt": "x", "num_inference_steps": 1}).json()
    assert [w["owner"] for w in _waiters_when(c, bool)] == ["backend"]
    assert c.delete(f"/v1/images/jobs/{job['id']}").json()["cancel_requested"] is True
    # The wait ends at once, not at a grant that never comes.
    assert _waiters_when(c, lambda waiters: not waiters, timeout=5) == []
    assert c.get("/gpu-status").json()["owner"] == "bench-holder"  # never disturbed
    # The worker is free: the next request is the one waiting now.
    second = c.post("/v1/images/jobs", json={"prompt": "y", "num_inference_steps": 1}).json()
    assert [w["owner"] for w in _waiters_when(c, bool)] == ["backend"]
    assert c.get(f"/v1/images/jobs/{second['id']}").json()["status"] == "running"
    holder.kill()
    deadline = time.monotonic() + 60
    while c.get(f"/v1/images/jobs/{second['id']}").json()["status"] != "succeeded":
        assert time.monotonic() < deadline
        time.sleep(0.05)
