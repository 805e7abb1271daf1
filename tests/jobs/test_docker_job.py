"""DockerJob against the real engine: result, timeout, OOM, no network, read-only root, kill,
pause, and the container always removed. Marked ``docker``: required in CI, skipped elsewhere
when no engine can be had."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import docker.errors
import pytest
from docker.client import from_env

from jobs import LABEL, DockerJob, Limits, sweep
from jobs.docker_job import LABEL_ID

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]
USER = "65534:65534"


def _folders(tmp_path: Path) -> dict[str, Path]:
    folders = {name: tmp_path / name for name in ("work", "output", "resources")}
    for folder in folders.values():
        folder.mkdir(parents=True)
        os.chmod(folder, 0o777)  # the job runs as nobody
    (folders["resources"] / "data.txt").write_text("shared\n")
    return folders


def _job(image: str, tmp_path: Path, **kwargs: object) -> DockerJob:
    folders = _folders(tmp_path)
    options: dict[str, object] = {
        "timeout": 60,
        "limits": Limits(cpus=1, memory_bytes=128 * 2**20, pids=64),
        "user": USER,
        "labels": {LABEL_ID: f"test-{tmp_path.name}"},
        **kwargs,
    }
    return DockerJob(image, **folders, **options)  # type: ignore[arg-type]


def _gone(container_id: str) -> bool:
    try:
        from_env().containers.get(container_id)
    except docker.errors.NotFound:
        return True
    return False


def test_a_job_writes_its_result_and_its_log(job_image: str, tmp_path: Path) -> None:
    job = _job(
        job_image,
        tmp_path,
        script="echo out; echo err >&2; cat /resources/data.txt; id -u\n"
        "python3 /usr/local/bin/jobtool.py result 0.75\n",
    )
    with job:
        assert job.container is not None
        container_id = str(job.container.id)
        labels = from_env().containers.get(container_id).labels
        assert labels[LABEL] == "1"
        outcome = job.wait()
    assert outcome.exit_code == 0
    assert outcome.result == {"score": 0.75}
    assert outcome.result_error is None
    assert not (outcome.timed_out)
    assert not (outcome.oom_killed)
    assert not (outcome.killed)
    log = outcome.log_path.read_text()
    # stdout and stderr are two streams: each in order, not ordered between them.
    assert sorted(log.split()) == ["65534", "err", "out", "shared"]
    assert (tmp_path / "work" / "run.sh").is_file()
    assert _gone(container_id)


def test_a_missing_or_bad_result_is_reported(job_image: str, tmp_path: Path) -> None:
    with _job(job_image, tmp_path, command=["sh", "-c", "echo nope > /output/result.json"]) as job:
        outcome = job.wait()
    assert outcome.exit_code == 0
    assert outcome.result is None
    assert outcome.result_error is not None
    assert "not JSON" in outcome.result_error


def test_the_timeout_is_enforced_and_the_log_kept(job_image: str, tmp_path: Path) -> None:
    job = _job(
        job_image,
        tmp_path,
        timeout=2,
        command=["python3", "/usr/local/bin/jobtool.py", "tick", "100", "0.2"],
    )
    started = time.monotonic()
    with job:
        outcome = job.wait()
    assert time.monotonic() - started < 20
    assert outcome.timed_out
    assert outcome.exit_code == 137
    assert 1.5 < outcome.run_seconds < 15
    assert "tick 0" in outcome.log_path.read_text()


def test_past_its_ram_it_is_oom_killed(job_image: str, tmp_path: Path) -> None:
    job = _job(
        job_image,
        tmp_path,
        limits=Limits(cpus=1, memory_bytes=64 * 2**20, pids=64, tmp_bytes=16 * 2**20),
        command=["python3", "/usr/local/bin/jobtool.py", "eat"],
    )
    with job:
        outcome = job.wait()
    assert outcome.oom_killed, outcome
    assert outcome.exit_code == 137


def test_past_its_storage_it_is_killed(job_image: str, tmp_path: Path) -> None:
    limit = 8 * 2**20
    job = _job(
        job_image,
        tmp_path,
        limits=Limits(cpus=1, memory_bytes=64 * 2**20, pids=64, storage_bytes=limit),
        # 1 MiB of real blocks every 50 ms, into both folders, until stopped.
        script="i=0; while true; do head -c 1048576 /dev/urandom > /output/o$i; "
        "cp /output/o$i /work/w$i; i=$((i+1)); sleep 0.05; done\n",
    )
    started = time.monotonic()
    with job:
        outcome = job.wait()
    assert time.monotonic() - started < 30
    assert outcome.over_storage_bytes is not None, outcome
    assert outcome.over_storage_bytes > limit
    assert not outcome.killed
    assert not outcome.timed_out
    assert outcome.exit_code == 137
    assert any((tmp_path / "work").glob("w*"))  # both folders count


def test_no_network_unless_asked(job_image: str, tmp_path: Path) -> None:
    # Without a network there is no route anywhere (192.0.2.1: TEST-NET-1, never a real host).
    with _job(
        job_image,
        tmp_path,
        command=["python3", "/usr/local/bin/jobtool.py", "net", "192.0.2.1", "9"],
    ) as job:
        outcome = job.wait()
    log = outcome.log_path.read_text()
    assert "NETWORK-REFUSED" in log
    assert "unreachable" in log.lower()
    container = None
    with _job(job_image, tmp_path / "net", network=True, command=["sleep", "0"]) as job:
        assert job.container is not None
        container = from_env().containers.get(str(job.container.id))
        assert container.attrs["HostConfig"]["NetworkMode"] == "bridge"
        job.wait()


def test_it_cannot_write_outside_its_folders(job_image: str, tmp_path: Path) -> None:
    with _job(
        job_image, tmp_path, command=["python3", "/usr/local/bin/jobtool.py", "escape"]
    ) as job:
        assert job.container is not None
        config = from_env().containers.get(str(job.container.id)).attrs["HostConfig"]
        outcome = job.wait()
    log = outcome.log_path.read_text()
    assert "WROTE" not in log, log
    assert log.count("REFUSED") == 4
    assert "Read-only file system" in log
    assert config["ReadonlyRootfs"] is True
    assert config["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in config["SecurityOpt"]
    assert config["Memory"] == 128 * 2**20
    assert config["PidsLimit"] == 64
    assert config["NanoCpus"] == 10**9
    assert "/tmp" in config["Tmpfs"]
    assert not (tmp_path / "resources" / "escaped").exists()


def test_kill_while_running(job_image: str, tmp_path: Path) -> None:
    job = _job(job_image, tmp_path, command=["sleep", "60"])
    with job:
        threading.Timer(1.0, job.kill).start()
        started = time.monotonic()
        outcome = job.wait()
        container_id = str(job.container.id)  # type: ignore[union-attr]
    assert outcome.killed
    assert not outcome.timed_out
    assert time.monotonic() - started < 15
    assert _gone(container_id)


def test_paused_time_does_not_count_against_the_timeout(job_image: str, tmp_path: Path) -> None:
    job = _job(job_image, tmp_path, timeout=3, command=["sleep", "2"])
    with job:
        job.pause()
        assert from_env().containers.get(str(job.container.id)).status == "paused"  # type: ignore[union-attr]
        time.sleep(2.5)
        job.unpause()
        outcome = job.wait()
    assert not outcome.timed_out, outcome
    assert outcome.exit_code == 0
    assert outcome.paused_seconds >= 2.4


def test_removed_when_the_caller_fails_and_swept_when_it_died(
    job_image: str, tmp_path: Path
) -> None:
    job = _job(job_image, tmp_path, command=["sleep", "60"])
    container_ids: list[str] = []

    def failing_caller() -> None:
        with job:
            container_ids.append(str(job.container.id))  # type: ignore[union-attr]
            raise RuntimeError("the caller fails")

    with pytest.raises(RuntimeError, match="the caller fails"):
        failing_caller()
    container_id = container_ids[0]
    assert _gone(container_id)
    # A caller that died leaves its container: the labelled sweep removes it.
    orphan = _job(job_image, tmp_path / "orphan", command=["sleep", "60"])
    orphan.start()
    orphan_id = str(orphan.container.id)  # type: ignore[union-attr]
    label = f"{LABEL_ID}=test-orphan"
    removed = sweep(from_env(), lambda c: False, filters={"label": label})
    assert len(removed) == 1
    assert "test-orphan" in removed[0]
    assert _gone(orphan_id)
