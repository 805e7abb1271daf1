"""The service against the real engine, over real HTTP: a job from submit to result, logs while
it runs, waiting for resources, cancel while running, a failed image, and restarts (re-attach,
lost, the start-up sweep) with ``python -m jobs`` in a child process that is really killed."""

from __future__ import annotations

import hashlib
import signal
import time
from pathlib import Path
from typing import Any

import docker.errors
import httpx
import pytest
from docker.client import from_env

from jobs import DockerJob
from jobs.docker_job import LABEL_ID
from jobs.service import LABEL_SERVICE
from tests.jobs.jobs_helpers import (
    free_port,
    labelled_containers,
    live_server,
    service_env,
    service_process,
    wait_status,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(240)]
TICK = "python3 /usr/local/bin/jobtool.py tick"


def test_a_job_from_submit_to_result(job_image: str, settings_factory: Any) -> None:
    with live_server(settings_factory()) as (url, _), httpx.Client(base_url=url) as http:
        body = {
            "image": job_image,
            "name": "scorer",
            "files": [{"path": "cfg/score.txt", "content": "0.5"}],
            "script": "cat cfg/score.txt\npython3 /usr/local/bin/jobtool.py result "
            "$(cat cfg/score.txt)\n",
            "resources": {"cpu": "1", "ram": "128MB"},
        }
        answer = http.post("/v1/jobs", json=body)
        assert answer.status_code == 201, answer.text
        created = answer.json()
        assert created["status"] == "queued"
        assert created["queue_position"] == 1
        baseline = wait_status(http, created["id"], {"succeeded"})
        assert baseline["result"] == {"score": 0.5}
        assert baseline["exit_code"] == 0
        assert baseline["log_tail"] == ["0.5"]
        assert next(e["status"] for e in baseline["events"]) == "queued"
        assert baseline["events"][-1]["status"] == "succeeded"
        assert baseline["resource_check"]["fits_now"] is True
        assert http.get(f"/v1/jobs/{created['id']}/files/result.json").json() == {"score": 0.5}
        assert labelled_containers(created["id"]) == []
        # A candidate against its baseline: both results side by side.
        candidate = http.post(
            "/v1/jobs",
            json={
                **body,
                "script": "python3 /usr/local/bin/jobtool.py result 0.9",
                "baseline": created["id"],
            },
        ).json()
        job = wait_status(http, candidate["id"], {"succeeded"})
        assert job["result"] == {"score": 0.9}
        assert job["baseline"]["result"] == {"score": 0.5}


def test_logs_stream_while_it_runs(job_image: str, settings_factory: Any) -> None:
    with live_server(settings_factory()) as (url, _), httpx.Client(base_url=url) as http:
        job = http.post("/v1/jobs", json={"image": job_image, "script": f"{TICK} 6 0.4"}).json()
        wait_status(http, job["id"], {"running"})
        seen: list[tuple[float, str]] = []
        with http.stream("GET", f"/v1/jobs/{job['id']}/logs", timeout=60) as stream:
            for chunk in stream.iter_text():
                seen.append((time.monotonic(), chunk))
        text = "".join(chunk for _, chunk in seen)
        assert list(text.splitlines()) == [f"tick {i}" for i in range(6)]
        # It came in pieces as the job printed, not at once at the end.
        assert len(seen) >= 3
        assert seen[-1][0] - seen[0][0] > 1.0


def test_a_job_that_fits_later_waits_with_the_reason(job_image: str, settings_factory: Any) -> None:
    with live_server(settings_factory()) as (url, service), httpx.Client(base_url=url) as http:
        cpus = service.host().cpus
        big = http.post(
            "/v1/jobs",
            json={"image": job_image, "script": "sleep 3", "resources": {"cpu": cpus}},
        ).json()
        wait_status(http, big["id"], {"running"})
        small = http.post(
            "/v1/jobs", json={"image": job_image, "script": "true", "resources": {"cpu": 1}}
        ).json()
        deadline = time.monotonic() + 10
        waiting: dict[str, Any] = {}
        while time.monotonic() < deadline:
            waiting = http.get(f"/v1/jobs/{small['id']}").json()
            if waiting["reason"]:
                break
            time.sleep(0.1)
        assert waiting["status"] == "queued"
        assert waiting["queue_position"] == 1
        assert waiting["reason"].startswith("waiting for CPUs: 1 requested, 0 of")
        assert f"({cpus} given to running jobs)" in waiting["reason"]
        wait_status(http, small["id"], {"succeeded"}, timeout=60)
        assert http.get(f"/v1/jobs/{big['id']}").json()["status"] == "succeeded"


def test_cancel_while_running(job_image: str, settings_factory: Any) -> None:
    with live_server(settings_factory()) as (url, _), httpx.Client(base_url=url) as http:
        script = "head -c 2097152 /dev/urandom > /output/blob; sleep 60"
        job = http.post("/v1/jobs", json={"image": job_image, "script": script}).json()
        wait_status(http, job["id"], {"running"})
        # Its folders' size shows while it runs (measured every 2 s).
        deadline = time.monotonic() + 20
        running: dict[str, Any] = {}
        while time.monotonic() < deadline:
            running = http.get(f"/v1/jobs/{job['id']}").json()
            if (running["storage_used"] or 0) >= 2 * 2**20:
                break
            time.sleep(0.1)
        assert running["status"] == "running"
        assert running["storage_used"] >= 2 * 2**20, running
        deadline = time.monotonic() + 20
        while not labelled_containers(job["id"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert http.delete(f"/v1/jobs/{job['id']}").json()["status"] == "cancelled"
        deadline = time.monotonic() + 20
        while labelled_containers(job["id"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert labelled_containers(job["id"]) == []
        # The cancel is recorded at once; the runner adds the container's end (its exit
        # code) after removing it, so the record is read once that line is there.
        done: dict[str, Any] = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            done = http.get(f"/v1/jobs/{job['id']}").json()
            if any(e["detail"].startswith("container killed") for e in done["events"]):
                break
            time.sleep(0.1)
        assert done["status"] == "cancelled"
        assert any("while running" in e["detail"] for e in done["events"]), done["events"]
        assert done["exit_code"] == 137


def test_timeout_storage_and_a_missing_image_end_with_the_reason(
    job_image: str, settings_factory: Any
) -> None:
    with live_server(settings_factory()) as (url, _), httpx.Client(base_url=url) as http:
        slow = http.post(
            "/v1/jobs", json={"image": job_image, "script": "sleep 60", "timeout": 1.5}
        ).json()
        missing = http.post(
            "/v1/jobs", json={"image": "gpu-share-no-such-image:0", "script": "true"}
        ).json()
        hoarder = http.post(
            "/v1/jobs",
            json={
                "image": job_image,
                "script": "i=0; while true; do head -c 1048576 /dev/urandom > /output/f$i; "
                "i=$((i+1)); sleep 0.05; done",
                "resources": {"storage": "4MiB"},
            },
        ).json()
        timed = wait_status(http, slow["id"], {"timed_out"})
        assert timed["reason"] == "ran past its timeout of 1.5 s"
        full = wait_status(http, hoarder["id"], {"failed", "succeeded", "timed_out"})
        assert full["status"] == "failed", full
        assert full["reason"] == (
            "out of storage: its files passed its storage limit (4194304 bytes)"
        )
        assert "over its storage" in full["events"][-1]["detail"]
        assert full["storage_used"] > 4 * 2**20
        failed = wait_status(http, missing["id"], {"failed"})
        assert "gpu-share-no-such-image:0" in failed["reason"]
        assert "not on the engine" in failed["reason"]


def _post(port: int, body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(f"http://127.0.0.1:{port}/v1/jobs", json=body, timeout=30)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def test_a_restart_reattaches_marks_the_gone_lost_and_sweeps(
    job_image: str, tmp_path: Path
) -> None:
    port = free_port()
    env = service_env(tmp_path, port)
    with service_process(env, port) as first:
        survivor = _post(port, {"image": job_image, "script": f"{TICK} 8 0.5"})
        doomed = _post(port, {"image": job_image, "script": "sleep 120"})
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}")
        wait_status(http, survivor["id"], {"running"})
        wait_status(http, doomed["id"], {"running"})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (
            labelled_containers(survivor["id"]) and labelled_containers(doomed["id"])
        ):
            time.sleep(0.1)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        http.close()
    # While the service is down: one container is removed, an orphan of this service appears.
    for container in labelled_containers(doomed["id"]):
        container.remove(force=True)
    key = hashlib.sha256(str((tmp_path / "data").resolve()).encode()).hexdigest()[:16]
    (tmp_path / "orphan").mkdir()
    orphan = DockerJob(
        job_image,
        work=tmp_path / "orphan" / "w",
        output=tmp_path / "orphan" / "o",
        command=["sleep", "120"],
        labels={LABEL_ID: "orphan", LABEL_SERVICE: key},
    )
    orphan.start()
    orphan_id = str(orphan.container.id)  # type: ignore[union-attr]
    with service_process(env, port), httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        lost = wait_status(http, doomed["id"], {"lost"}, timeout=30)
        assert "removed while the service was down" in lost["events"][-1]["detail"]
        assert lost["reason"] == "the container was gone when the service restarted"
        finished = wait_status(http, survivor["id"], {"succeeded"}, timeout=60)
        assert any("re-attached" in e["detail"] for e in finished["events"])
        log = http.get(f"/v1/jobs/{survivor['id']}/logs").text
        assert log.splitlines() == [f"tick {i}" for i in range(8)]
        with pytest.raises(docker.errors.NotFound):
            from_env().containers.get(orphan_id)
    from jobs.store import JobStore

    sweeps = JobStore(tmp_path / "data" / "jobs.sqlite3").service_events("sweep")
    assert any("(job orphan" in event.detail for event in sweeps), sweeps


def test_queued_jobs_survive_a_restart(job_image: str, tmp_path: Path) -> None:
    port = free_port()
    env = service_env(tmp_path, port)
    with service_process(env, port) as first:
        # Queued behind a job that takes every CPU: it is still queued when the service dies.
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            cpus = http.get("/v1/host").json()["cpus"]
            hog = _post(port, {"image": job_image, "script": "sleep 4", "resources": {"cpu": cpus}})
            wait_status(http, hog["id"], {"running"})
            queued = _post(port, {"image": job_image, "script": "echo later"})
            assert http.get(f"/v1/jobs/{queued['id']}").json()["status"] == "queued"
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    with service_process(env, port), httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        job = wait_status(http, queued["id"], {"succeeded"}, timeout=60)
        assert job["log_tail"] == ["later"]
