"""The runner of a ``manager`` GPU job: it waits for the low lease, and a cancel ends that wait.

These drive :class:`jobs.runner.Runner` itself, with a real engine and a real lease holder in
another process. The container gets no GPU device request (the engine here may have no GPU),
which is all these tests need: what is under test is the lease wait around it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docker.client import from_env

from gpu_coord import read_status
from jobs import DockerJob, Limits, store
from jobs.leftovers import LABEL_ID
from jobs.runner import Runner
from jobs.spec import JobSpec
from jobs.store import JobRecord, JobStore
from tests.jobs.jobs_helpers import REPO, labelled_containers

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]


@pytest.fixture
def coord(tmp_path: Path) -> Path:
    return tmp_path / "coord" / "status.json"


@pytest.fixture
def holder(coord: Path) -> Iterator[subprocess.Popen[str]]:
    """Another program holding the lease of GPU 0 until the test kills it."""
    env = dict(os.environ, GPU_COORD_PATH=str(coord), PYTHONPATH=str(REPO))
    argv = [sys.executable, "-m", "gpu_coord", "hold", "--owner", "other", "--seconds", "600"]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # its first line is the grant
        assert '"granted"' in line, line
        yield proc
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _gpu_record(jobs: JobStore, script: str) -> JobRecord:
    spec = JobSpec.model_validate(
        {"image": "unused", "script": script, "timeout": 60, "resources": {"gpu": 1}}
    )
    record = jobs.create(None, spec.model_dump(mode="json"), name=None, detail="accepted")
    return jobs.transition(record.id, store.RUNNING, "starting", started_at=time.time(), device=0)


def _runner(
    record: JobRecord, tmp_path: Path, jobs: JobStore, image: str, coord: Path
) -> tuple[Runner, threading.Event]:
    folder = tmp_path / record.id
    for name in ("work", "output"):
        (folder / name).mkdir(parents=True)
        os.chmod(folder / name, 0o777)
    client = from_env()

    def make_job(record: JobRecord, spec: JobSpec) -> DockerJob:
        return DockerJob(
            image,
            work=folder / "work",
            output=folder / "output",
            script=spec.script,
            timeout=float(record.spec["timeout"]),
            limits=Limits(cpus=1, memory_bytes=128 * 2**20),
            labels={LABEL_ID: record.id},
            client=client,
        )

    done = threading.Event()
    runner = Runner(
        record,
        folder=folder,
        jobs=jobs,
        client=client,
        make_job=make_job,
        gpu_coord_path=coord,
        on_done=lambda _: done.set(),
    )
    return runner, done


def _details(jobs: JobStore, job_id: str) -> list[str]:
    return [e.detail or "" for e in jobs.get(job_id).events]


def _wait(check: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _waiting(
    tmp_path: Path, image: str, coord: Path
) -> tuple[JobStore, JobRecord, Runner, threading.Event]:
    """A started runner of a GPU job writing ``output/ran``, listed as the lease's waiter."""
    jobs = JobStore(tmp_path / "jobs.sqlite3")
    record = _gpu_record(jobs, "echo ran > /output/ran")
    runner, done = _runner(record, tmp_path, jobs, image, coord)
    runner.start()
    _wait(lambda: read_status(coord)["waiters"], "the job listed as a waiter")
    return jobs, record, runner, done


def test_a_cancel_while_waiting_for_the_lease_ends_the_wait_at_once(
    job_image: str, tmp_path: Path, coord: Path, holder: subprocess.Popen[str]
) -> None:
    jobs, record, runner, done = _waiting(tmp_path, job_image, coord)
    assert any("waiting for a low-priority lease" in d for d in _details(jobs, record.id))
    assert len(labelled_containers(record.id)) == 1  # created, not started

    jobs.transition(record.id, store.CANCELLED, "cancelled by the client while running")
    cancelled_at = time.monotonic()
    runner.cancel()
    assert done.wait(10), "the runner still waits for the lease its job no longer wants"
    assert time.monotonic() - cancelled_at < 5
    assert read_status(coord)["waiters"] == []
    assert read_status(coord)["owner"] == "other"  # the holder was never disturbed
    assert labelled_containers(record.id) == []
    ended = jobs.get(record.id)
    assert ended.status == store.CANCELLED
    assert "the container never ran" in _details(jobs, record.id)[-1]
    assert not (tmp_path / record.id / "output" / "ran").exists()
    jobs.close()


def test_the_job_runs_once_the_lease_is_free(
    job_image: str, tmp_path: Path, coord: Path, holder: subprocess.Popen[str]
) -> None:
    jobs, record, _, done = _waiting(tmp_path, job_image, coord)
    holder.kill()  # the other program ends: the kernel frees its lock at once
    assert done.wait(60)
    ended = jobs.get(record.id)
    assert ended.status == store.SUCCEEDED, _details(jobs, record.id)
    assert any("holding the low-priority lease" in d for d in _details(jobs, record.id))
    assert (tmp_path / record.id / "output" / "ran").read_text() == "ran\n"
    assert read_status(coord)["owner"] is None
    jobs.close()
