"""Background jobs over real HTTP: queue positions, every step by SSE, cancel, 100 jobs."""

from __future__ import annotations

import base64
import io
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from PIL import Image

from backend import Settings
from tests.backend.sse_client import TERMINAL, EventReader, read_events

pytestmark = pytest.mark.timeout(300)

JOBS = "/v1/images/jobs"
SMALL = {"size": "64x64", "num_inference_steps": 2}


def _submit(http: httpx.Client, **body: Any) -> dict[str, Any]:
    resp = http.post(JOBS, json={"prompt": "a fox", **body})
    assert resp.status_code == 202, resp.text
    created: dict[str, Any] = resp.json()
    return created


def _wait_finished(http: httpx.Client, job_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = http.get(f"{JOBS}/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_sse_reads_positions_falling_and_every_step(
    settings_factory: Callable[..., Settings],
    ready_server: Callable[[Settings], Any],
    hold: Callable[..., Any],
) -> None:
    with (
        ready_server(settings_factory()) as url,
        httpx.Client(base_url=url, timeout=60) as http,
        hold("--priority", "low") as holder,
    ):
        # The first job waits for the lease (the holder has it); three queue behind it.
        ids = [_submit(http, **SMALL)["id"] for _ in range(3)]
        last = _submit(http, size="64x64", num_inference_steps=4, seed=3)
        assert last["status"] == "queued"
        assert last["queue_position"] >= 3
        while (running := http.get(f"{JOBS}/{ids[0]}").json())["status"] != "running":
            time.sleep(0.02)
        assert running["lease_wait_seconds"] >= 0
        time.sleep(0.2)
        waited = http.get(f"{JOBS}/{ids[0]}").json()["lease_wait_seconds"]
        assert waited > running["lease_wait_seconds"]  # counting while it waits
        listing = http.get(JOBS, params={"status": "queued"}).json()
        assert [j["queue_position"] for j in listing["data"]] == [1, 2, 3]
        assert listing["data"][-1]["id"] == last["id"]
        holder.kill()  # SIGKILL: the lease is free, the queue drains
        response, events = read_events(url, last["id"])
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        job = http.get(f"{JOBS}/{last['id']}").json()
    kinds = [e.event for e in events]
    assert kinds[0] == "queued", kinds
    assert kinds[-1] == "done", kinds
    positions = [e.data["queue_position"] for e in events if e.event in ("queued", "position")]
    assert positions == list(range(last["queue_position"], 0, -1))  # falling one by one to 1
    steps = [e.data["step"] for e in events if e.event == "step"]
    assert steps == [1, 2, 3, 4]  # every step
    assert all(e.data["steps"] == 4 for e in events if e.event == "step")
    assert kinds.index("running") < kinds.index("lease") < kinds.index("step")
    assert [int(e.id or 0) for e in events] == list(range(1, len(events) + 1))
    assert job["status"] == "succeeded"
    assert job["step"] == job["steps"] == 4
    assert job["progress"] == 1.0
    assert job["queue_position"] is None
    assert job["eta_seconds"] == 0.0
    image = Image.open(io.BytesIO(base64.b64decode(job["result"]["data"][0]["b64_json"])))
    assert image.size == (64, 64)


def test_reconnect_after_the_end_is_204_and_resumes_after_last_event_id(
    settings_factory: Callable[..., Settings], ready_server: Callable[[Settings], Any]
) -> None:
    with ready_server(settings_factory()) as url, httpx.Client(base_url=url, timeout=60) as http:
        job_id = _submit(http, **SMALL)["id"]
        _wait_finished(http, job_id)
        _, events = read_events(url, job_id)
        assert events[-1].event == "done"
        _, tail = read_events(url, job_id, headers={"Last-Event-ID": events[-3].id or ""})
        assert [e.id for e in tail] == [e.id for e in events[-2:]]
        over, nothing = read_events(url, job_id, headers={"Last-Event-ID": events[-1].id or ""})
        assert over.status_code == 204
        assert nothing == []
        missing = http.get(f"{JOBS}/nope/events")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "job_not_found"


def test_cancel_while_queued_and_while_running(
    settings_factory: Callable[..., Settings],
    ready_server: Callable[[Settings], Any],
) -> None:
    settings = settings_factory(max_steps=1000, max_work=10**12)
    with ready_server(settings) as url, httpx.Client(base_url=url, timeout=60) as http:
        # 999 steps x 4 images take minutes on the CPU.
        long = _submit(http, num_inference_steps=999, n=4, size="64x64")["id"]
        queued = _submit(http, **SMALL)
        assert queued["queue_position"] == 1
        listening = EventReader(url, queued["id"])
        listening.wait_for("queued")
        gone = http.delete(f"{JOBS}/{queued['id']}")
        assert gone.status_code == 200, gone.text
        assert gone.json()["status"] == "cancelled"  # dropped at once
        assert gone.json()["queue_position"] is None
        assert gone.json()["error"]["code"] == "cancelled"
        assert [e.event for e in listening.join()] == ["queued", "cancelled"]
        for method in ("GET", "DELETE"):  # deleted: gone
            assert http.request(method, f"{JOBS}/{queued['id']}").status_code == 404
        assert http.get(f"{JOBS}/{queued['id']}/events").status_code == 404
        following = EventReader(url, long)
        following.wait_for("step")  # it runs
        start = time.monotonic()
        stopping = http.delete(f"{JOBS}/{long}").json()
        assert stopping["status"] == "running"
        assert stopping["cancel_requested"] is True
        events = following.join()
        assert time.monotonic() - start < 30  # at its next step, not after 999
        last = events[-1]
        assert last.event == "cancelled"
        assert last.data["error"]["code"] == "cancelled"
        assert last.data["step"] < 999
        assert http.get(f"{JOBS}/{long}").status_code == 404
        assert http.get("/gpu-status").json()["busy"] is False
        ok = http.post("/v1/images/generations", json={"prompt": "x", **SMALL})
        assert ok.status_code == 200, ok.text


def test_a_hundred_jobs_keep_consistent_positions_and_none_is_lost(
    settings_factory: Callable[..., Settings],
    ready_server: Callable[[Settings], Any],
    hold: Callable[..., Any],
) -> None:
    settings = settings_factory(queue_size=100, job_history=100)
    body = {"size": "64x64", "num_inference_steps": 1}
    with (
        ready_server(settings) as url,
        httpx.Client(base_url=url, timeout=60) as http,
        hold("--priority", "low") as holder,
    ):
        first = _submit(http, **body)  # runs, waiting for the lease
        while http.get(f"{JOBS}/{first['id']}").json()["status"] != "running":
            time.sleep(0.02)
        created = [_submit(http, seed=i, **body) for i in range(100)]
        assert [c["queue_position"] for c in created] == list(range(1, 101))
        full = http.post(JOBS, json={"prompt": "one more", **body})
        assert full.status_code == 429
        assert "Retry-After" in full.headers
        pages, offset = [], 0
        while True:
            page = http.get(JOBS, params={"status": "queued", "limit": 30, "offset": offset})
            pages.extend(page.json()["data"])
            offset += 30
            if not page.json()["has_more"]:
                break
        assert [j["id"] for j in pages] == [c["id"] for c in created]
        assert [j["queue_position"] for j in pages] == list(range(1, 101))
        holder.kill()
        finished = [_wait_finished(http, c["id"]) for c in created]
        assert {j["status"] for j in finished} == {"succeeded"}
        streams = [read_events(url, c["id"])[1] for c in created]
    for number, events in enumerate(streams, start=1):
        positions = [e.data["queue_position"] for e in events if "queue_position" in e.data]
        assert positions == list(range(number, 0, -1)), (number, positions)
        assert events[-1].event == "done"
        assert [e.event for e in events].count("step") == 1


def test_blocking_requests_share_the_queue_and_are_listed(
    settings_factory: Callable[..., Settings],
    ready_server: Callable[[Settings], Any],
    hold: Callable[..., Any],
) -> None:
    with (
        ready_server(settings_factory()) as url,
        httpx.Client(base_url=url, timeout=60) as http,
        hold("--priority", "low") as holder,
    ):
        background = _submit(http, **SMALL)
        answers: list[httpx.Response] = []
        blocking = threading.Thread(
            target=lambda: answers.append(
                httpx.post(
                    f"{url}/v1/images/generations", json={"prompt": "y", **SMALL}, timeout=60
                )
            )
        )
        blocking.start()
        try:
            deadline = time.monotonic() + 30
            while True:
                listing = http.get(JOBS).json()
                if listing["total"] == 2:
                    break
                assert time.monotonic() < deadline, listing
                time.sleep(0.02)
            first, second = listing["data"]
            assert first["id"] == background["id"]
            assert first["status"] == "running"
            assert second["background"] is False
            assert second["queue_position"] == 1
            assert listing["queue_depth"] == 1
        finally:
            holder.kill()
            blocking.join(60)
        assert answers[0].status_code == 200, answers[0].text
        assert _wait_finished(http, background["id"])["status"] == "succeeded"
        # A finished blocking request is forgotten; its client got the images.
        assert [j["id"] for j in http.get(JOBS).json()["data"]] == [background["id"]]


def test_jobs_need_the_key_and_events_take_it_as_access_token(
    settings_factory: Callable[..., Settings], ready_server: Callable[[Settings], Any]
) -> None:
    key = {"Authorization": "Bearer sk-jobs"}
    with (
        ready_server(settings_factory(api_key="sk-jobs")) as url,
        httpx.Client(base_url=url, timeout=60) as http,
    ):
        refused = http.post(JOBS, json={"prompt": "x", **SMALL})
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_api_key"
        job_id = http.post(JOBS, json={"prompt": "x", **SMALL}, headers=key).json()["id"]
        assert http.get(f"{JOBS}/{job_id}").status_code == 401
        assert http.get(f"{JOBS}/{job_id}", params={"access_token": "sk-jobs"}).status_code == 401
        assert http.get(f"{JOBS}/{job_id}/events").status_code == 401
        wrong = http.get(f"{JOBS}/{job_id}/events", params={"access_token": "sk-wrong"})
        assert wrong.status_code == 401
        response, events = read_events(url, job_id, params={"access_token": "sk-jobs"})
        assert response.status_code == 200
        assert events[-1].event in TERMINAL


def test_list_and_job_errors_use_the_envelope(
    settings_factory: Callable[..., Settings], ready_server: Callable[[Settings], Any]
) -> None:
    with ready_server(settings_factory()) as url, httpx.Client(base_url=url, timeout=60) as http:
        bad = http.get(JOBS, params={"limit": 0})
        assert bad.status_code == 400
        assert bad.json()["error"]["param"] == "limit"
        bad_body = http.post(JOBS, json={"prompt": "x", "size": "7x7"})
        assert bad_body.status_code == 400
        assert bad_body.json()["error"]["param"] == "size"
        # One path, one route per method: a 405 allows all of them.
        options = http.options(JOBS)
        assert options.status_code == 405
        assert options.headers["Allow"] == "GET, HEAD, POST"
        for method in ("GET", "DELETE"):
            missing = http.request(method, f"{JOBS}/0123456789ab")
            assert missing.status_code == 404, method
            assert missing.json()["error"]["param"] == "job_id"
