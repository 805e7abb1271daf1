"""``python -m jobs submit|status|logs|cancel|list`` against a live service, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.jobs.jobs_helpers import REPO, free_port, live_server


def _cli(url: str, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBS_")}
    env.update({"JOBS_URL": url, "PYTHONPATH": str(REPO)})
    if key:
        env["JOBS_API_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "jobs", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
        cwd=REPO,
    )


def test_an_unreachable_service_is_named() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = _cli(url, "list")
    assert done.returncode == 1
    assert f"cannot reach the jobs service at {url}" in done.stderr


def test_refusals_come_back_with_the_service_message(settings_factory: Any, tmp_path: Path) -> None:
    with live_server(settings_factory(api_key="k")) as (url, _):
        done = _cli(url, "list")
        assert done.returncode == 1
        assert "HTTP 401: missing or wrong API key" in done.stderr
        assert json.loads(_cli(url, "list", key="k").stdout)["total"] == 0
        done = _cli(url, "status", "nope", key="k")
        assert (done.returncode, done.stderr.strip()) == (1, "jobs: HTTP 404: no job 'nope'")
        done = _cli(url, "submit", "--image", "img", "--script", str(tmp_path / "no.sh"), key="k")
        assert "--script" in done.stderr
        assert "not a file" in done.stderr


@pytest.mark.docker
@pytest.mark.timeout(120)
def test_submit_from_local_files_then_status_logs_list(
    job_image: str, settings_factory: Any, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "n.txt").write_text("0.25\n")
    (project / "blob.bin").write_bytes(b"\x00\xff\x10")
    script = tmp_path / "run.sh"
    script.write_text(
        "od -An -tx1 blob.bin\npython3 /usr/local/bin/jobtool.py result $(cat data/n.txt)\n"
    )
    with live_server(settings_factory()) as (url, _):
        done = _cli(
            url,
            "submit",
            "--image",
            job_image,
            "--script",
            str(script),
            "--dir",
            str(project),
            "--name",
            "cli-test",
            "--ram",
            "128MB",
            "--wait",
        )
        assert done.returncode == 0, done.stderr
        job = json.loads(done.stdout)
        assert job["status"] == "succeeded", job
        assert job["result"] == {"score": 0.25}
        status = json.loads(_cli(url, "status", job["id"]).stdout)
        assert status["request"]["files"][0]["encoding"] == "base64"
        logs = _cli(url, "logs", job["id"])
        assert logs.stdout.split() == ["00", "ff", "10"]
        listed = json.loads(_cli(url, "list", "--name", "cli-test").stdout)
        assert [j["id"] for j in listed["data"]] == [job["id"]]
        done = _cli(url, "cancel", job["id"])
        assert done.returncode == 1
        assert "already ended (succeeded)" in done.stderr
