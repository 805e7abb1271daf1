"""The worker process: one model, loaded once, making and scoring one image per task.

The runner starts one worker per model in a ``spawn`` context (a fresh
interpreter), so everything the model put on the GPU is released when the worker
ends. It speaks the messages of :mod:`benchmark.messages`. The worker writes the
PNG to a temporary name in the destination folder and ``os.replace``s it, so a
reader never sees half an image; the parent records the row afterwards.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from benchmark.errors import is_disk_full
from benchmark.logs import quiet_libraries, setup_logging
from benchmark.messages import (
    Done,
    Failed,
    Loaded,
    LoadFailed,
    Pause,
    Resume,
    Stop,
    Task,
    Warn,
    WorkerMessage,
)
from benchmark.records import Measures

log = logging.getLogger("benchmark.worker")
LEASE_OWNER = "benchmark"


@dataclass(frozen=True)
class WorkerJob:
    """What a worker needs to start: the model, the device, the scorers (or None)."""

    model_name: str
    source: str
    device: str
    dtype: str
    variant: str | None
    scorers: dict[str, str] | None
    log_level: int = logging.INFO


def _energy_mj(index: int | None) -> int | None:
    """Card energy counter in millijoules from NVML (via gpu_coord), None without a GPU."""
    if index is None:
        return None
    from gpu_coord import gpu_snapshot

    snap = gpu_snapshot(index)
    energy = snap.energy_mj if snap is not None else None
    return int(energy) if energy is not None else None


def _watch_parent(parent: int) -> None:
    # A SIGKILLed runner cannot tell its worker to stop; the worker notices it was
    # re-parented and exits, so no orphan keeps a model (and maybe the lease).
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(3)


class _Work:
    """Runs tasks for one loaded model inside low-priority leases."""

    def __init__(self, conn: Connection, job: WorkerJob, loaded: Any) -> None:
        from imagegen import cuda_index, lease_device

        self.conn, self.job, self.loaded = conn, job, loaded
        self.index = cuda_index(loaded.device)
        self.lease_device = lease_device(loaded.device)
        self.scorers: Any = None
        self.scorer_error: str | None = None

    def send(self, message: WorkerMessage) -> None:
        self.conn.send(message)

    def _acquire(self) -> Any:
        from gpu_coord import lease

        held = lease(LEASE_OWNER, priority="low", device=self.lease_device)
        self.send(Pause())
        held.acquire()
        self.send(Resume())
        return held

    def make(self, task: Task) -> Done:
        import torch

        from imagegen import generate

        cuda = self.index is not None
        held = self._acquire()
        yielded_s = 0.0
        yielded_mj = 0
        try:
            if cuda:
                torch.cuda.reset_peak_memory_stats(self.index)
            start_mj = _energy_mj(self.index)
            start = time.perf_counter()

            def on_step(step: int, total: int) -> None:
                nonlocal yielded_s, yielded_mj
                before_yields = held.yields
                self.send(Pause())
                t0, e0 = time.perf_counter(), _energy_mj(self.index)
                held.checkpoint()
                if held.yields != before_yields:
                    # The GPU was someone else's meanwhile: neither time nor energy is ours.
                    yielded_s += time.perf_counter() - t0
                    e1 = _energy_mj(self.index)
                    if e0 is not None and e1 is not None:
                        yielded_mj += e1 - e0
                self.send(Resume())

            images = generate(self.loaded, task.request, on_step=on_step)
            if cuda:
                torch.cuda.synchronize(self.index)
            latency = time.perf_counter() - start - yielded_s
            end_mj = _energy_mj(self.index)
            peak = int(torch.cuda.max_memory_allocated(self.index)) if cuda else None
        finally:
            held.release()
        image = images[0]
        self._save(image, Path(task.image_path))
        energy = None
        if start_mj is not None and end_mj is not None:
            energy = max(end_mj - start_mj - yielded_mj, 0) / 1000.0
        steps = task.request.steps or self.loaded.default_steps
        wait, yields = float(held.wait_seconds), int(held.yields)
        scores = None
        if self.job.scorers is not None:
            scores, score_wait, score_yields = self._score(image, task.request.prompt)
            wait, yields = wait + score_wait, yields + score_yields
        measures = Measures(
            width=image.width,
            height=image.height,
            steps=steps,
            latency_s=latency,
            steps_per_s=steps / latency if latency > 0 else None,
            peak_mem_bytes=peak,
            lease_wait_s=wait,
            yields=yields,
            energy_j=energy,
        )
        return Done(measures, scores)

    def _save(self, image: Any, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
        try:
            image.save(tmp, format="PNG")
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)

    def _score(self, image: Any, prompt: str) -> tuple[Mapping[str, float] | None, float, int]:
        from benchmark.scoring import ScorerConfig, load_scorers

        assert self.job.scorers is not None
        if self.scorer_error is not None:
            return None, 0.0, 0
        held = self._acquire()
        try:
            if self.scorers is None:
                try:
                    config = ScorerConfig(**self.job.scorers)
                    self.scorers = load_scorers(config, device=self.loaded.device)
                except Exception as exc:  # any loading failure leaves images unscored
                    self.scorer_error = f"scorers unavailable, images stay unscored: {exc}"
                    self.send(Warn(self.scorer_error))
                    return None, float(held.wait_seconds), int(held.yields)
            try:
                scores = self.scorers.score(image, prompt)
            except Exception as exc:
                self.send(Warn(f"scoring failed: {type(exc).__name__}: {exc}"))
                scores = None
        finally:
            held.release()
        return scores, float(held.wait_seconds), int(held.yields)


def _failure(exc: Exception, task: Task) -> Failed:
    if isinstance(exc, OSError) and is_disk_full(exc):
        reason = f"no space left for {task.image_path}: {exc.strerror or exc}"
        return Failed(reason, disk_full=True)
    return Failed(f"{type(exc).__name__}: {exc}")


def worker_main(conn: Connection, job: WorkerJob) -> None:
    """Entry point of a worker process (importable, for the ``spawn`` start method)."""
    # Ctrl-C in a terminal reaches the whole process group; the runner decides
    # when its workers stop, so a worker must not die mid-image with a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    setup_logging(job.log_level, name_prefix=f"worker[{job.model_name}] ")
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    from imagegen import ModelLoadError, load_pipeline

    quiet_libraries()

    try:
        loaded = load_pipeline(job.source, device=job.device, dtype=job.dtype, variant=job.variant)
    except ModelLoadError as exc:
        conn.send(LoadFailed(str(exc)))
        return
    except Exception as exc:  # out of memory and friends: still the model's failure
        conn.send(LoadFailed(f"cannot load model {job.source!r}: {type(exc).__name__}: {exc}"))
        return
    conn.send(Loaded(loaded.device))
    work = _Work(conn, job, loaded)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if isinstance(message, Stop):
            return
        assert isinstance(message, Task), f"unexpected message {message!r}"
        try:
            conn.send(work.make(message))
        except (BrokenPipeError, EOFError):
            return
        except Exception as exc:  # one bad image must not end the model's run
            log.exception("image failed")
            conn.send(_failure(exc, message))
