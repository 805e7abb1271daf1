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
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from benchmark.checkpoints import Checkpoints, energy_mj
from benchmark.devices import Slot
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
    ToWorker,
    Warn,
    WorkerMessage,
)
from benchmark.offload import decide, device_memory, load_placed
from benchmark.placed import PlacedPipeline
from benchmark.placement import Placement
from benchmark.records import Measures

if TYPE_CHECKING:
    from benchmark.placement import MemoryNeed

log = logging.getLogger("benchmark.worker")
LEASE_OWNER = "benchmark"


class WorkerConnection(Protocol):
    """The worker's end: a ``multiprocessing`` pipe, or ``benchmark.wire.FileConnection``."""

    def send(self, message: WorkerMessage) -> None: ...

    def recv(self) -> ToWorker: ...


@dataclass(frozen=True)
class WorkerJob:
    """What a worker needs to start: the model, the device, the scorers (or None).

    ``lease_device`` overrides the lease the device maps to (the CPU mode's
    several leases); ``need`` is the runner's estimate for the placement
    (``benchmark.placement``), ``placement`` the configured choice;
    ``block_checkpoints`` checkpoints the lease before every block as well as
    after every step.
    """

    model_name: str
    source: str
    device: str
    dtype: str
    variant: str | None
    scorers: dict[str, Any] | None
    log_level: int = logging.INFO
    lease_device: int | None = None
    placement: str = "auto"
    need: MemoryNeed | None = None
    block_checkpoints: bool = True
    label: str | None = None  # how rows name the device, when not the worker's own view


def _watch_parent(parent: int) -> None:
    # A SIGKILLed runner cannot tell its worker to stop; the worker notices it was
    # re-parented and exits, so no orphan keeps a model (and maybe the lease).
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(3)


class _Work:
    """Runs tasks for one loaded model inside low-priority leases."""

    def __init__(
        self,
        conn: WorkerConnection,
        job: WorkerJob,
        loaded: Any,
        placement: Placement,
        lease_dev: int,
    ) -> None:
        self.conn, self.job, self.loaded = conn, job, loaded
        self.placed = PlacedPipeline(
            loaded,
            placement,
            block_checkpoints=job.block_checkpoints,
            warn=lambda text: self.send(Warn(text)),
        )
        self.index = self.placed.index
        self.lease_device = lease_dev
        self.label = job.label or Slot(loaded.device, job.lease_device).label
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

        cuda = self.index is not None
        held = self._acquire()
        marks = Checkpoints(held, self.send, self.index)
        try:
            self.placed.reset_peak()
            before = device_memory(self.index)
            start_mj = energy_mj(self.index)
            start = time.perf_counter()
            images = self.placed.generate(task.request, marks)
            if cuda:
                torch.cuda.synchronize(self.index)
            latency = time.perf_counter() - start - marks.yielded_s
            end_mj = energy_mj(self.index)
            peak = self.placed.peak()
        finally:
            held.release()
        image = images[0]
        self._save(image, Path(task.image_path))
        energy = None
        if start_mj is not None and end_mj is not None:
            energy = max(end_mj - start_mj - marks.yielded_mj, 0) / 1000.0
        steps = task.request.steps or self.loaded.default_steps
        wait, yields = float(held.wait_seconds), int(held.yields)
        scores = None
        if self.job.scorers is not None:
            scores, score_wait, score_yields = self._score(image, task.request.prompt)
            wait, yields = wait + score_wait, yields + score_yields
        # Working memory is the image's own only when the weights sat on the device
        # throughout; under offload the peak mixes weights moving in and out.
        working = None
        if peak is not None and before is not None and self.placed.placement == "gpu":
            working = max(peak - before, 0)
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
            device=self.label,
            placement=self.placed.placement,
            resident_mem_bytes=self.placed.resident_bytes,
            working_mem_bytes=working,
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


def worker_main(conn: WorkerConnection, job: WorkerJob) -> None:
    """Entry point of a worker process (importable, for the ``spawn`` start method)."""
    # Ctrl-C in a terminal reaches the whole process group; the runner decides
    # when its workers stop, so a worker must not die mid-image with a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    setup_logging(job.log_level, name_prefix=f"worker[{job.model_name}] ")
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    from gpu_coord import resident
    from imagegen import ModelLoadError, cuda_index, lease_device, pick_device

    quiet_libraries()

    try:
        device = pick_device(job.device)
        lease_dev = job.lease_device if job.lease_device is not None else lease_device(device)
        decision = decide(job.need, job.placement, device=device, lease_device=lease_dev)
    except ValueError as exc:
        conn.send(LoadFailed(f"cannot load model {job.source!r}: {exc}"))
        return
    if decision.placement is None:
        conn.send(LoadFailed(f"model {job.model_name!r} {decision.reason}"))
        return
    log.info("placement %s", decision.reason)
    try:
        loaded = load_placed(
            job.source,
            device=device,
            dtype=job.dtype,
            variant=job.variant,
            placement=decision.placement,
        )
    except ModelLoadError as exc:
        conn.send(LoadFailed(str(exc)))
        return
    except Exception as exc:  # out of memory and friends: still the model's failure
        conn.send(LoadFailed(f"cannot load model {job.source!r}: {type(exc).__name__}: {exc}"))
        return
    work = _Work(conn, job, loaded, decision.placement, lease_dev)
    # What the model keeps on the device, and the peak it may reach on top, for
    # everyone else's memory budget; the registration ends with this process.
    held_bytes = work.placed.resident_bytes or 0
    headroom = (
        job.need.working_bytes if job.need is not None and cuda_index(device) is not None else 0
    )
    work.placed.resident = resident(
        LEASE_OWNER, device=lease_dev, resident_bytes=held_bytes, headroom_bytes=headroom
    ).__enter__()
    conn.send(
        Loaded(
            loaded.device,
            decision.placement,
            decision.reason,
            work.label,
            work.placed.resident_bytes,
        )
    )
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
