"""The dashboard's data without a browser: metrics parsing and quantiles, the lease's spans from
a real lease's history, the runner's progress view as the real runner writes it, the routes."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from gpu_coord import history, lease
from jobs import Settings
from jobs.dashboard.backend_view import LATENCY_METRIC, BackendWatch, parse_metrics, quantile
from jobs.dashboard.lease_view import spans, timeline
from jobs.dashboard.runner_view import image_file, runner_view
from tests.jobs.jobs_helpers import REPO


def test_quantiles_interpolate_inside_the_bucket() -> None:
    buckets = {0.1: 0.0, 0.5: 50.0, 1.0: 100.0, float("inf"): 100.0}
    assert quantile(0.5, buckets) == pytest.approx(0.5)
    assert quantile(0.25, buckets) == pytest.approx(0.3)
    assert quantile(0.95, buckets) == pytest.approx(0.95)
    assert quantile(0.5, {0.1: 0.0, float("inf"): 0.0}) is None
    # Past the last finite bound the histogram knows no more than that bound.
    assert quantile(0.99, {1.0: 1.0, float("inf"): 10.0}) == 1.0


def _metrics_text(observations: list[float]) -> str:
    registry = CollectorRegistry()
    latency = Histogram(
        LATENCY_METRIC, "latency", ["method", "route"], buckets=(0.5, 1, 2, 5), registry=registry
    )
    for seconds in observations:
        latency.labels("POST", "/v1/images/generations").observe(seconds)
    latency.labels("GET", "/metrics").observe(100)  # another route: not counted
    return generate_latest(registry).decode()


def test_parse_metrics_reads_the_generation_route_only() -> None:
    scrape = parse_metrics(_metrics_text([0.2, 0.7, 1.5]) + "backend_queue_depth 3.0\n")
    assert scrape.figures["queue_depth"] == 3.0
    assert scrape.buckets == {0.5: 1.0, 1.0: 2.0, 2.0: 3.0, 5.0: 3.0, float("inf"): 3.0}


def test_the_latency_window_is_the_difference_of_scrapes() -> None:
    watch = BackendWatch("http://127.0.0.1:9")
    old = parse_metrics(_metrics_text([4.0] * 10))
    old.at -= 400  # older than the window: only the difference since counts
    watch._latency(old)
    p50, _, covered, count = watch._latency(parse_metrics(_metrics_text([4.0] * 10 + [0.2] * 4)))
    assert count == 4
    assert p50 is not None
    assert p50 < 0.5
    assert covered == pytest.approx(300.0)
    # A restarted backend (counters went down) starts the window afresh.
    _, _, covered, count = watch._latency(parse_metrics(_metrics_text([0.7])))
    assert count == 1
    assert covered is None


def test_an_unreachable_backend_is_said_with_the_reason() -> None:
    view = asyncio.run(BackendWatch("http://127.0.0.1:9").view())
    assert view["reachable"] is False
    assert "http://127.0.0.1:9/metrics" in view["reason"]


def test_spans_come_from_a_real_lease_history(tmp_path: Path) -> None:
    path = tmp_path / "coord" / "status.json"
    with lease("first", priority="low", path=path):
        pass
    with lease("second", priority="high", path=path):
        time.sleep(0.02)
    # A holder SIGKILLed while it holds: its span ends at the next grant ("died").
    child = subprocess.Popen(
        [sys.executable, "-m", "gpu_coord", "--path", str(path), "hold", "--owner", "doomed",
         "--priority", "low", "--seconds", "60"],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        assert json.loads(child.stdout.readline())["owner"] == "doomed"  # granted
        child.kill()
    finally:
        child.wait(30)
        assert child.stdout is not None
        child.stdout.close()
    with lease("third", priority="low", path=path):
        shown = spans(history(0, path=path))
        assert [(s["owner"], s["ended_by"]) for s in shown] == [
            ("first", "release"),
            ("second", "release"),
            ("doomed", "died"),
            ("third", None),
        ]
        assert shown[1]["end"] - shown[1]["start"] >= 0.019  # stamps have milliseconds
        time.sleep(0.05)
        view = timeline(path, 0, since=time.time())
        assert [s["owner"] for s in view["spans"]] == ["third"]  # only what is still open
        assert [m["event"] for m in timeline(path, 0, None)["marks"]] == ["reclaim"]


def test_yields_handoffs_and_forced_grants_are_drawn(tmp_path: Path) -> None:
    path = tmp_path / "coord" / "status.json"
    with lease("batch", priority="low", path=path) as held:
        urgent = threading.Thread(target=lambda: lease("urgent", priority="high", path=path)
                                  .acquire().release())  # fmt: skip
        urgent.start()
        deadline = time.monotonic() + 10
        while not held.checkpoint():  # yields once the high caller waits, then takes it back
            assert time.monotonic() < deadline, "the high caller never asked"
            time.sleep(0.005)
        urgent.join(10)
        with lease("impatient", priority="high", path=path, max_wait=0.05) as forced:
            assert forced.forced
            time.sleep(0.05)
            # Running: a span of its own, open, beside "batch" (which still holds).
            running = timeline(path, 0, None)["spans"]
            assert [(s["owner"], s["forced"], s["end"]) for s in running][-2:] == [
                ("batch", False, None),
                ("impatient", True, None),
            ]
    shown = spans(history(0, path=path))
    assert [(s["owner"], s["ended_by"], s["handoff"], s["forced"]) for s in shown] == [
        ("batch", "yield", False, False),
        ("urgent", "release", True, False),
        ("batch", "release", False, False),
        ("impatient", "release", False, True),
    ]
    # The forced run is a bar from its grant to its release, inside "batch"'s hold.
    batch, impatient = shown[2], shown[3]
    assert batch["start"] <= impatient["start"] < impatient["end"] <= batch["end"]
    assert impatient["end"] - impatient["start"] >= 0.049  # stamps have milliseconds
    assert impatient["wait_seconds"] >= 0.05
    marks = timeline(path, 0, None)["marks"]
    assert [(m["event"], m["owner"]) for m in marks] == [("yield", "batch")]


def test_a_forced_run_that_died_ends_where_it_began(tmp_path: Path) -> None:
    path = tmp_path / "coord" / "status.json"
    with lease("holder", priority="low", path=path):
        # A forced holder SIGKILLed before its release: the log has its grant only.
        child = subprocess.Popen(
            [sys.executable, "-m", "gpu_coord", "--path", str(path), "hold", "--owner",
             "impatient", "--priority", "high", "--max-wait", "0.05", "--seconds", "60"],
            cwd=REPO, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert child.stdout is not None
            assert json.loads(child.stdout.readline())["forced"] is True
            alive = timeline(path, 0, None)["spans"]
            assert [(s["owner"], s["end"]) for s in alive if s["forced"]] == [("impatient", None)]
            child.kill()
        finally:
            child.wait(30)
            assert child.stdout is not None
            child.stdout.close()
        later = time.time() + 1
        [dead] = [s for s in timeline(path, 0, since=later)["spans"] if s["forced"]]
        assert dead["ended_by"] == "died"
        assert dead["end"] == dead["start"]


def _progress_from_the_runner(results: Path) -> None:
    """Write progress.json with benchmark's own Progress, as a run does."""
    script = (
        "import sys, pathlib; from benchmark.progress import Progress, VIEW_NAME\n"
        "p = Progress(4, 1, view=pathlib.Path(sys.argv[1]) / VIEW_NAME, run_id='run-1')\n"
        "p.advance('tiny', 'animals', ok=True)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(results)], cwd=REPO, check=True)


def test_the_runner_view_reads_progress_and_the_database(tmp_path: Path) -> None:
    results = tmp_path / "results"
    assert "progress.json is missing" in runner_view(results)["reason"]
    results.mkdir()
    _progress_from_the_runner(results)
    (results / "images").mkdir()
    (results / "images" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    db = sqlite3.connect(results / "benchmark.sqlite3")
    db.executescript(
        "CREATE TABLE runs (id TEXT PRIMARY KEY, finished_at TEXT);"
        "CREATE TABLE generations (id INTEGER PRIMARY KEY, run_id TEXT, model TEXT, prompt TEXT,"
        " status TEXT, image_path TEXT, created_at TEXT);"
        "INSERT INTO runs VALUES ('run-1', NULL);"
        "INSERT INTO generations VALUES (1, 'run-1', 'tiny', 'a cat', 'ok', 'images/a.png', 'x');"
        "INSERT INTO generations VALUES (2, 'run-1', 'tiny', 'a dog', 'failed', NULL, 'y');"
    )
    db.commit()
    db.close()
    view = runner_view(results)
    progress = view["progress"]
    assert (progress["done"], progress["total"], progress["failed"]) == (2, 4, 0)
    assert (progress["model"], progress["run_id"]) == ("tiny", "run-1")
    assert view["finished_at"] is None
    assert [i["url"] for i in view["images"]] == ["/v1/dashboard/runner/images/images/a.png"]
    assert image_file(results, "images/a.png") == (results / "images" / "a.png").resolve()
    (results / "secret.txt").write_text("no")
    for outside in ("../etc/passwd", "secret.txt", "images/\x00a.png", "/etc/hostname"):
        assert image_file(results, outside) is None
    (results / "progress.json").write_text("{not json")
    assert "not JSON" in runner_view(results)["reason"]


def test_the_routes_answer_and_guard_with_the_key(
    settings_factory: Callable[..., Settings],
) -> None:
    from fastapi.testclient import TestClient

    from jobs import create_app

    settings = settings_factory(api_key="k3y", backend_url="http://127.0.0.1:9")
    with TestClient(create_app(settings)) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert "/dashboard/dashboard.js" in page.text
        assert client.get("/dashboard/dashboard.css").status_code == 200
        assert client.get("/dashboard/nope.js").status_code == 404
        assert client.get("/v1/dashboard").status_code == 401
        answer = client.get("/v1/dashboard", headers={"Authorization": "Bearer k3y"})
        assert answer.status_code == 200
        body = answer.json()
        assert body["lease"][0]["device"] == 0
        assert body["backend"]["reachable"] is False
        assert set(body["jobs"]) >= {"queued", "running", "finished"}
        assert (
            client.get(
                "/v1/dashboard/runner/images/../../x.png", headers={"Authorization": "Bearer k3y"}
            ).status_code
            == 404
        )
