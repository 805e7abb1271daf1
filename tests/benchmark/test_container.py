"""isolation = "container": each model's worker in its own container, on the real engine.

Marked ``docker``. The image is the benchmark image the compose end-to-end test
builds (``GPU_SHARE_BENCHMARK_IMAGE``, default ``gpu-share-benchmark:e2e-cpu``)
with this checkout's packages copied over it, so the container runs the code
under test. The runner, the lease folder and the results are on the host, and the
container mounts them at the same paths; the last test runs the runner itself in a
container (the compose case), where they are not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmark.container_setup import LABEL_RUNNER
from benchmark.wire import decode, encode
from gpu_coord import history, lease, read_status
from tests.benchmark.conftest import (
    REPO,
    db_rows,
    kill_group,
    model_table,
    runner_env,
    runner_process,
    wait_for,
    write_config,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(900)]
BASE = os.environ.get("GPU_SHARE_BENCHMARK_IMAGE", "gpu-share-benchmark:e2e-cpu")
IMAGE = "gpu-share-benchmark:test-container"


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The benchmark image with this checkout's code, or a skip naming what is missing."""
    from tests.stack.stack_engine import e2e_mode, engine_answers, image_exists

    mode, why = e2e_mode()
    if mode == "skip":
        pytest.skip(why)
    if mode == "required":
        from tests.stack.stack_engine import ensure_engine

        ensure_engine()
    if not engine_answers():
        pytest.skip("no Docker engine answers (docker info failed)")
    if not image_exists(BASE):
        if mode != "required" or "GPU_SHARE_BENCHMARK_IMAGE" in os.environ:
            pytest.skip(f"no {BASE} image: the compose end-to-end test (tests/stack) builds it")
        # CI: build it as compose would (the compose test later reuses its layers).
        from tests.stack.stack_engine import build_benchmark_image

        owner = (1000, 1000) if os.geteuid() == 0 else (os.getuid(), os.getgid())
        build_benchmark_image(BASE.partition(":")[2], uid=owner[0], gid=owner[1])
    context = tmp_path_factory.mktemp("image")
    for package in ("gpu_coord", "imagegen", "benchmark", "jobs", "servekit"):
        shutil.copytree(REPO / package, context / package,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    (context / "Dockerfile").write_text(
        f"FROM {BASE}\nCOPY gpu_coord/ /app/gpu_coord/\nCOPY imagegen/ /app/imagegen/\n"
        "COPY benchmark/ /app/benchmark/\nCOPY jobs/ /app/jobs/\nCOPY servekit/ /app/servekit/\n"
    )
    subprocess.run(["docker", "build", "-q", "-t", IMAGE, str(context)], check=True,
                   capture_output=True, timeout=600)  # fmt: skip
    return IMAGE


@pytest.fixture
def shared(bench_dirs: dict[str, Path]) -> Iterator[dict[str, Path]]:
    """bench_dirs writable by the container's user (nobody, the runner being root here)."""
    for folder in (
        bench_dirs["coord"].parent,
        bench_dirs["results"],
        bench_dirs["results"] / "images",
    ):
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o777)
    yield bench_dirs
    from docker.client import from_env

    key = f"{LABEL_RUNNER}={bench_dirs['results'].resolve()}"
    left = from_env().containers.list(all=True, filters={"label": key}, ignore_removed=True)
    for container in left:
        container.remove(force=True)
    assert not left, f"containers left behind: {[c.short_id for c in left]}"


def _config(tmp_path: Path, tiny: Any, image: str, prompts: int = 2) -> Path:
    config = write_config(
        tmp_path / "b.toml", tiny, [model_table("tiny", tiny.pipeline, steps=3)], score=False
    )
    config.write_text(
        config.read_text().replace(
            "[run]\n", f'[run]\nisolation = "container"\ncontainer_image = "{image}"\n'
        )
    )
    return config


def test_messages_survive_the_wire() -> None:
    from benchmark.messages import Done, Failed, Loaded, Pause, Stop, Task
    from benchmark.records import Measures
    from imagegen import GenerationRequest

    measures = Measures(64, 64, 2, 0.5, 4.0, None, 0.1, 1, None, "cpu", "gpu", None, None)
    for message in (
        Task(GenerationRequest("a cat", width=64, seed=3), "/r/images/x.png"),
        Done(measures, {"clip_score": 21.0}),
        Done(measures),
        Failed("no", disk_full=True),
        Loaded("cpu", "gpu", "all on the device", "cpu lease 1", None),
        Pause(),
        Stop(),
    ):
        assert decode(encode(message)) == message
    with pytest.raises(ValueError, match="not a worker message"):
        decode('{"type": "Shell", "cmd": "rm"}')


def test_the_mounts_are_the_runners_paths_named_by_the_hosts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from benchmark.container_setup import container_mounts, runner_label
    from benchmark.worker import WorkerJob
    from jobs.hostpaths import HostPathError, HostPaths, Mount

    model = tmp_path / "srv" / "models" / "tiny"
    model.mkdir(parents=True)
    results = tmp_path / "srv" / "results"
    monkeypatch.setenv("GPU_COORD_PATH", str(tmp_path / "srv" / "coord" / "status.json"))
    monkeypatch.delenv("HF_HOME", raising=False)
    inside = str(tmp_path / "srv")
    # The runner's container mounts the host's /data/stack at tmp/srv.
    host_path = HostPaths([Mount(inside, "/data/stack")])
    job = WorkerJob("tiny", str(model), "cpu", "float32", None, None)
    mounts = container_mounts(job, results, host_path)
    assert mounts[str(results.resolve())] == ("/data/stack/results", "rw")
    assert mounts[str(model.resolve())] == ("/data/stack/models/tiny", "ro")
    assert mounts[str((tmp_path / "srv" / "coord").resolve())] == ("/data/stack/coord", "rw")
    assert len(mounts) == 3
    assert runner_label(results, host_path) == "/data/stack/results"
    outside = HostPaths([Mount("/elsewhere", "/data/other")])
    with pytest.raises(HostPathError, match="on no volume or bind mount"):
        container_mounts(job, results, outside)


def test_each_model_runs_in_a_container_and_a_killed_run_resumes(
    image: str, tiny_models: Any, shared: dict[str, Path], tmp_path: Path
) -> None:
    results, coord = shared["results"], shared["coord"]
    (shared["data"] / "p.txt").write_text("".join(f"prompt {i}\n" for i in range(6)))
    config = _config(tmp_path, tiny_models, image)
    env = runner_env(shared, config)
    log = tmp_path / "runner.log"
    # Kill the runner mid-model: its container is orphaned, the next runner removes it.
    with runner_process(["run", "--no-report"], env, log) as proc:
        wait_for(lambda: len(db_rows(results)) >= 2, timeout=600, what="two images",
                 proc=proc, log=log)  # fmt: skip
        kill_group(proc)
    made_before = len(db_rows(results))
    assert made_before < 6
    with runner_process(["run", "--no-report"], env, log) as proc:
        assert proc.wait(timeout=600) == 0, log.read_text()[-4000:]
    rows = db_rows(results)
    assert sorted(r["prompt"] for r in rows) == [f"prompt {i}" for i in range(6)]
    assert {r["status"] for r in rows} == {"ok"}, [r["error"] for r in rows]
    assert {(r["device"], r["placement"]) for r in rows} == {("cpu", "gpu")}
    assert all((results / r["image_path"]).is_file() for r in rows)
    text = log.read_text()
    assert "removed a leftover container of an earlier runner" in text
    # The container held the host's lease for every image.
    grants = [e for e in history(0, path=coord) if e.owner == "benchmark" and e.event == "grant"]
    assert len(grants) >= 6


def test_a_container_yields_to_the_backend_and_times_out_like_a_process(
    image: str, tiny_models: Any, shared: dict[str, Path], tmp_path: Path
) -> None:
    results, coord = shared["results"], shared["coord"]
    (shared["data"] / "p.txt").write_text("a cat\n")
    config = _config(tmp_path, tiny_models, image)
    text = config.read_text().replace("steps = 3", "steps = 60")
    config.write_text(text + "\n" + model_table("slow", tiny_models.pipeline, steps=60,
                                                timeout_s=0.05))  # fmt: skip
    log = tmp_path / "runner.log"
    with runner_process(["run", "--no-report"], runner_env(shared, config), log) as proc:
        wait_for(lambda: read_status(path=coord)["owner"] == "benchmark", timeout=600,
                 what="the container to hold the lease", proc=proc, log=log)  # fmt: skip
        with lease("test-backend", priority="high", path=coord, timeout=120):
            time.sleep(0.5)
        assert proc.wait(timeout=600) == 0, log.read_text()[-4000:]
    rows = {r["model"]: r for r in db_rows(results)}
    assert rows["tiny"]["status"] == "ok", rows["tiny"]["error"]
    assert rows["tiny"]["yields"] >= 1
    assert rows["tiny"]["lease_wait_s"] >= 0.4  # the backend's time, not the image's
    assert rows["slow"]["status"] == "failed"
    assert rows["slow"]["error"] == "timed out after 0.05 s of generation (worker restarted)"


def test_a_runner_in_a_container_gives_each_worker_its_own_mounts(
    image: str, tiny_models: Any, shared: dict[str, Path], tmp_path: Path
) -> None:
    """The compose case: the runner itself runs in a container holding the engine's socket.

    Its folders are at paths the host does not have (``/srv/...``), so each mount of a
    worker's container is named to the engine by the host path behind the runner's own
    mount of it; the worker sees the runner's paths, and takes the host's lease.
    """
    from docker.client import from_env

    results, coord = shared["results"], shared["coord"]
    (shared["data"] / "p.txt").write_text("prompt 0\nprompt 1\n")
    tiny_root = Path(tiny_models.root)
    config = _config(tmp_path, tiny_models, image)
    config.write_text(config.read_text().replace(str(tiny_root), "/srv/tiny"))
    socket = "/var/run/docker.sock"
    volumes = {
        socket: {"bind": socket, "mode": "rw"},
        str(results): {"bind": "/srv/bench/results", "mode": "rw"},
        str(coord.parent): {"bind": "/srv/bench/coord", "mode": "rw"},
        str(shared["data"]): {"bind": "/srv/bench/data", "mode": "ro"},
        str(config): {"bind": "/srv/bench/b.toml", "mode": "ro"},
        str(tiny_root): {"bind": "/srv/tiny", "mode": "ro"},
    }
    client = from_env()
    runner = client.containers.run(
        image,
        ["python", "-m", "benchmark", "run", "--no-report"],
        detach=True,
        volumes=volumes,
        group_add=[str(os.stat(socket).st_gid)],
        network_mode="none",
        environment={
            "BENCHMARK_CONFIG": "/srv/bench/b.toml",
            "BENCHMARK_DATA_DIR": "/srv/bench/data",
            "BENCHMARK_RESULTS_DIR": "/srv/bench/results",
            "GPU_COORD_PATH": "/srv/bench/coord/status.json",
            "OMP_NUM_THREADS": "1",
            "HF_HUB_OFFLINE": "1",
        },
        labels={"gpu-share.test": "runner-in-container"},
    )
    try:
        code = runner.wait(timeout=600)["StatusCode"]
        log = runner.logs().decode(errors="replace")
    finally:
        runner.remove(force=True, v=True)
    assert code == 0, log[-4000:]
    rows = db_rows(results)
    assert sorted(r["prompt"] for r in rows) == ["prompt 0", "prompt 1"]
    assert {r["status"] for r in rows} == {"ok"}, [r["error"] for r in rows]
    assert all((results / r["image_path"]).is_file() for r in rows)
    grants = [e for e in history(0, path=coord) if e.owner == "benchmark" and e.event == "grant"]
    assert len(grants) >= 2  # the worker's container held the host's lease
