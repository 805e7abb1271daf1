"""What a model's worker container gets from the runner: mounts, label, environment.

The results folder (writable), the lease folder, the Hugging Face cache and the
model's and scorers' local folders (read-only), each at the path the runner knows
it by and named to the engine by its host path (:mod:`jobs.hostpaths`: the
identity for a runner on the host, its own container's mounts for one in a
container). The containers carry the runner's label, keyed by the host's results
path: a later runner finds and removes what a killed one left by it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmark.worker import WorkerJob

LABEL_RUNNER = "gpu-share.benchmark"  # the results folder whose runner started it
SCRATCH = ".containers"  # in the results folder: one work/output pair per container


def host_paths(client: Any) -> Callable[[Path], str]:
    """This runner's paths as the engine names them (the host's), see :mod:`jobs.hostpaths`.

    Raises :class:`~benchmark.errors.WorkerLoadError` naming what cannot be mapped.
    """
    from benchmark.errors import WorkerLoadError
    from jobs.hostpaths import HostPathError, discover

    try:
        return discover(client)
    except HostPathError as exc:
        raise WorkerLoadError(f'isolation = "container": {exc}') from exc


def runner_label(results_dir: Path, host_path: Callable[[Path], str]) -> str:
    """The ``LABEL_RUNNER`` value of this runner's containers: its results folder, as the
    host names it.

    The host's path, not the runner's: two stacks whose runners both see
    ``/app/research/benchmark_results`` must not sweep each other's containers.
    """
    return host_path(results_dir)


def sweep_leftovers(results_dir: Path, client: Any = None) -> list[str]:
    """Remove the containers a killed runner of ``results_dir`` left (one runner per folder)."""
    from docker.client import from_env

    from jobs import LABEL, sweep

    client = client or from_env()
    key = f"{LABEL_RUNNER}={runner_label(results_dir, host_paths(client))}"
    removed = sweep(client, lambda _: False, filters={"label": [LABEL, key]})
    shutil.rmtree(results_dir / SCRATCH, ignore_errors=True)  # their scratch folders
    return removed


def container_mounts(
    job: WorkerJob, results_dir: Path, host_path: Callable[[Path], str]
) -> dict[str, tuple[str, str]]:
    """``{path inside: (host path, mode)}``: the runner's folders, at the runner's paths."""
    from gpu_coord import record_path

    mounts = {str(results_dir.resolve()): "rw", str(Path(record_path()).parent.resolve()): "rw"}
    hf_home = os.environ.get("HF_HOME")
    if hf_home and Path(hf_home).is_dir():
        mounts[str(Path(hf_home).resolve())] = "ro"
    candidates = [job.source, *(str(v) for v in (job.scorers or {}).values())]
    for value in candidates:
        path = Path(value).expanduser()
        if path.is_absolute() and path.exists():
            mounts.setdefault(str(path.resolve()), "ro")
    return {path: (host_path(Path(path)), mode) for path, mode in mounts.items()}


def host_memory() -> int:
    import psutil

    return int(psutil.virtual_memory().total)


def environment() -> dict[str, str]:
    names = ("GPU_COORD_PATH", "GPU_COORD_MEMORY_MARGIN", "HF_HOME", "OMP_NUM_THREADS")
    env = {n: os.environ[n] for n in names if os.environ.get(n)}
    env["HF_HUB_OFFLINE"] = "1"  # no network in the container: the model is in the cache
    env.setdefault("OMP_NUM_THREADS", "1")
    if "GPU_COORD_PATH" not in env:
        from gpu_coord import record_path

        env["GPU_COORD_PATH"] = str(Path(record_path()).resolve())
    return env
