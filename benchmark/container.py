"""``isolation = "container"``: each model's worker in its own container, through jobs.DockerJob.

The container runs ``python -m benchmark.container /work/job.json`` from the
benchmark image: the same worker (:func:`benchmark.worker.worker_main`), the
same lease (the lease folder is mounted), speaking the same messages as JSON
lines (:mod:`benchmark.wire`): the runner appends tasks to ``tasks.jsonl``, the
worker appends to ``report.jsonl``, which the runner parses.
:class:`ContainerWorker` is :class:`~benchmark.supervisor.ModelWorker` with
that transport, so timeouts (lease waits excluded), kills, restarts and resume
are the process mode's. What the container gets (its mounts at the runner's
paths, named by the host's; its label; its environment) is
:mod:`benchmark.container_setup`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import threading
import time
import uuid
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from benchmark.config import RunSettings
from benchmark.container_setup import (
    LABEL_RUNNER,
    SCRATCH,
    container_mounts,
    environment,
    host_memory,
    host_paths,
    runner_label,
)
from benchmark.devices import Slot
from benchmark.messages import Stop, Task, ToWorker, WorkerMessage
from benchmark.placement import MemoryNeed
from benchmark.supervisor import ModelWorker
from benchmark.wire import HEARTBEAT, REPORT, TASKS, FileConnection, LineReader, append_line
from benchmark.wire import decode as decode_line
from benchmark.wire import encode as encode_line
from benchmark.worker import WorkerJob, worker_main

__all__ = ["ContainerWorker", "for_container", "main", "make_worker"]

log = logging.getLogger(__name__)

_FOREVER_S = 365 * 24 * 3600.0  # the runner enforces the timeouts, not the engine


def for_container(
    job: WorkerJob, device: str, lease_device: int | None, label: str
) -> tuple[WorkerJob, int | None, str | None]:
    """(the job as the container runs it, the GPU to expose, a skip reason or None).

    The container sees only its own GPU, as ``cuda:0``, and NVML inside numbers it
    0 too; so the placement is decided here, on the host, against the lease
    device's budget, and the container is told the placement, its lease and
    how rows name the device.
    """
    from benchmark.offload import decide
    from gpu_coord import gpu_snapshot

    if device == "auto":
        device = "cuda:0" if gpu_snapshot(0) is not None else "cpu"
    gpu = None
    if device.startswith("cuda"):
        _, _, index = device.partition(":")
        gpu = int(index) if index else 0
        device, label = f"cuda:{gpu}", f"cuda:{gpu}"
    lease = lease_device if lease_device is not None else (gpu or 0)
    decision = decide(job.need, job.placement, device=device, lease_device=lease)
    if decision.placement is None:
        return job, gpu, f"model {job.model_name!r} {decision.reason}"
    inside = "cuda:0" if gpu is not None else device
    placed = replace(
        job, device=inside, lease_device=lease, placement=decision.placement, label=label
    )
    return placed, gpu, None


def make_worker(run: RunSettings, job: WorkerJob, results_dir: Path, slot: Slot) -> ModelWorker:
    """The worker for ``job`` on ``slot``: a process, or a container (``run.isolation``)."""
    timeouts = {
        "image_timeout_s": run.image_timeout_s,
        "load_timeout_s": run.load_timeout_s,
    }
    if run.isolation != "container":
        return ModelWorker(job, **timeouts)
    placed, gpu, skip = for_container(job, slot.device, slot.lease_device, slot.label)
    return ContainerWorker(
        placed, image=run.container_image, scratch=results_dir / SCRATCH,
        results_dir=results_dir, gpu=gpu, skip=skip, **timeouts,
    )  # fmt: skip


class ContainerWorker(ModelWorker):
    """A model's worker in a container; same use as :class:`ModelWorker`."""

    def __init__(
        self,
        job: WorkerJob,
        *,
        image: str,
        scratch: Path,
        results_dir: Path,
        image_timeout_s: float,
        load_timeout_s: float,
        gpu: int | None = None,
        skip: str | None = None,
        client: Any = None,
    ) -> None:
        super().__init__(job, image_timeout_s=image_timeout_s, load_timeout_s=load_timeout_s)
        self.image, self.scratch, self.results_dir = image, scratch, results_dir
        self.gpu, self.skip, self.client = gpu, skip, client
        self._docker: Any = None
        self._reader: LineReader | None = None
        self._waiter: threading.Thread | None = None
        self._outcome: Any = None
        self._folder: Path | None = None

    # -- transport ----------------------------------------------------------------------

    def _launch(self) -> None:
        from docker.client import from_env

        from jobs import DockerJob, Limits

        client = self.client or from_env()
        host_path = host_paths(client)
        folder = self.scratch / f"{self.job.model_name}-{uuid.uuid4().hex[:8]}"
        work, output = folder / "work", folder / "output"
        for path in (work, output):
            path.mkdir(parents=True)
            path.chmod(0o777)  # the container's user writes here
        (work / "job.json").write_text(json.dumps(asdict(self.job)))
        (work / HEARTBEAT).touch()
        self._folder, self._outcome = folder, None
        self._reader = LineReader(output / REPORT)
        uid = os.getuid()
        # The container never runs as root (DockerJob refuses); a root runner's folders
        # must then be writable by nobody.
        user = f"{uid}:{os.getgid()}" if uid != 0 else "65534:65534"
        self._docker = DockerJob(
            self.image,
            work=work,
            output=output,
            command=["python", "-m", "benchmark.container", "/work/job.json"],
            timeout=_FOREVER_S,
            limits=Limits(cpus=0, memory_bytes=host_memory(), pids=4096, tmp_bytes=2**30),
            user=user,
            network=False,
            device=self.gpu,
            environment=environment(),
            mounts=container_mounts(self.job, self.results_dir, host_path),
            labels={LABEL_RUNNER: runner_label(self.results_dir, host_path)},
            host_path=host_path,
            client=client,
        )
        self._docker.start()
        self._waiter = threading.Thread(target=self._wait, daemon=True)
        self._waiter.start()

    def _wait(self) -> None:
        try:
            self._outcome = self._docker.wait()
        except Exception as exc:  # the engine went away: the worker counts as dead
            log.warning("container of %s: %s", self.job.model_name, exc)
            self._outcome = exc

    def _post(self, message: ToWorker) -> None:
        assert self._folder is not None
        if self._ended()[0]:
            raise BrokenPipeError("the container has ended")
        append_line(self._folder / "work" / TASKS, encode_line(message))

    def _receive(self, timeout: float) -> WorkerMessage | None:
        assert self._reader is not None
        assert self._folder is not None
        deadline = time.monotonic() + timeout
        while True:
            (self._folder / "work" / HEARTBEAT).touch()
            lines = self._reader.read()
            if lines:
                self._backlog.extend(lines)
            if self._backlog:
                message = decode_line(self._backlog.pop(0))
                assert not isinstance(message, Task | Stop), f"unexpected message {message!r}"
                return message
            if time.monotonic() >= deadline or self._ended()[0]:
                return None
            time.sleep(min(0.05, max(deadline - time.monotonic(), 0.0)))

    _backlog: list[str]

    def _ended(self) -> tuple[bool, int | None]:
        if self._docker is None:
            return True, None
        outcome = self._outcome
        if outcome is None:
            return False, None
        return True, getattr(outcome, "exit_code", None)

    def _join(self, timeout: float) -> None:
        if self._waiter is not None:
            self._waiter.join(timeout)

    def _exit_detail(self) -> str:
        if self._folder is None:
            return ""
        try:
            tail = (self._folder / "output" / "job.log").read_text(errors="replace")[-1500:]
        except OSError:
            return ""
        return f"; its log ends: {tail.strip()}" if tail.strip() else ""

    def kill(self) -> None:
        """Kill and remove the container (if any)."""
        if self._docker is not None:
            self._docker.kill()
            self._join(30)
            self._docker.remove()
            self._docker = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def start(self) -> None:
        """Start the container and wait for the model to load (see :class:`ModelWorker`)."""
        from benchmark.errors import WorkerLoadError

        if self.skip is not None:
            raise WorkerLoadError(self.skip)
        self._backlog = []
        super().start()


def _job_from_json(path: Path) -> WorkerJob:
    data = json.loads(path.read_text())
    need = data.pop("need", None)
    job = WorkerJob(**data)
    return replace(job, need=MemoryNeed(**need) if need is not None else None)


def main(argv: list[str] | None = None) -> int:
    """The container's entry point: ``python -m benchmark.container /work/job.json``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m benchmark.container JOB_JSON", file=sys.stderr)
        return 2
    job_file = Path(args[0])
    conn = FileConnection(job_file.parent, Path(os.environ.get("JOB_OUTPUT", "/output")))
    worker_main(conn, _job_from_json(job_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
