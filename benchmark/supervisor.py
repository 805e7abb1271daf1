"""The parent's side of a worker: start it, hand it tasks, enforce the timeouts.

The image timeout counts only the worker's *working* time: time it spends
waiting for the GPU lease (the backend has priority and may hold the GPU for a
long while) is excluded, so a busy backend never makes images fail. When the
budget runs out the worker is killed (SIGKILL: a hung CUDA kernel ignores
anything gentler), the image is recorded as failed with the reason, and the
next task gets a fresh worker.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import time
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from benchmark.errors import WorkerLoadError
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
from benchmark.records import Measures
from benchmark.worker import WorkerJob, worker_main

log = logging.getLogger(__name__)

_POLL_S = 0.5


__all__ = ["ModelWorker", "Outcome", "WorkerLoadError"]


@dataclass(frozen=True)
class Outcome:
    """The result of one task: ``ok`` with measures (and scores), or not ok with an ``error``.

    ``disk_full``: the image could not be written for lack of space, so the
    run must stop (the image is not the model's failure). ``worker_lost``: the
    worker was killed or died, and must be started again before the next task.
    """

    ok: bool
    measures: Measures | None = None
    scores: Mapping[str, float] | None = None
    error: str | None = None
    worker_lost: bool = False
    disk_full: bool = False


class ModelWorker:
    """One worker process for one model. Use :meth:`start`, :meth:`run`, :meth:`stop`."""

    def __init__(self, job: WorkerJob, *, image_timeout_s: float, load_timeout_s: float) -> None:
        self.job = job
        self.image_timeout_s = image_timeout_s
        self.load_timeout_s = load_timeout_s
        self._ctx = multiprocessing.get_context("spawn")
        self._proc: BaseProcess | None = None
        self._conn: Connection | None = None
        self.device: str | None = None
        self.loaded: Loaded | None = None  # the worker's placement and figures once loaded

    @property
    def alive(self) -> bool:
        """Whether the worker is running."""
        return not self._ended()[0]

    # -- the transport: a spawned process and a pipe (benchmark.container: a container) --

    def _launch(self) -> None:
        parent, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(
            target=worker_main,
            args=(child, self.job),
            name=f"benchmark-worker-{self.job.model_name}",
            daemon=True,
        )
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent

    def _post(self, message: ToWorker) -> None:
        """Send ``message``; BrokenPipeError or OSError when the worker is gone."""
        assert self._conn is not None
        self._conn.send(message)

    def _receive(self, timeout: float) -> WorkerMessage | None:
        assert self._conn is not None
        try:
            if self._conn.poll(timeout):
                message: WorkerMessage = self._conn.recv()
                return message
        except (EOFError, OSError):
            time.sleep(min(timeout, 0.05))
        return None

    def _ended(self) -> tuple[bool, int | None]:
        """(whether the worker has ended, its exit code when known)."""
        if self._proc is None:
            return True, None
        if self._proc.is_alive():
            return False, None
        return True, self._proc.exitcode

    def _join(self, timeout: float) -> None:
        if self._proc is not None:
            self._proc.join(timeout)

    def _exit_detail(self) -> str:
        return ""

    # -- the protocol -------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker and wait until its model is loaded.

        Raises :class:`WorkerLoadError` when loading fails, times out, or the
        worker dies while loading; the worker is gone afterwards.
        """
        self._launch()
        deadline = time.monotonic() + self.load_timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise WorkerLoadError(
                    f"model {self.job.model_name!r} did not load within {self.load_timeout_s:g} s"
                )
            message = self._receive(min(remaining, _POLL_S))
            if message is None:
                ended, code = self._ended()
                if ended:
                    detail = self._exit_detail()
                    self.kill()
                    raise WorkerLoadError(
                        f"worker for {self.job.model_name!r} exited with code {code} while "
                        f"loading{detail}"
                    )
                continue
            if isinstance(message, Loaded):
                self.device, self.loaded = message.device, message
                return
            if isinstance(message, LoadFailed):
                self.kill()
                raise WorkerLoadError(message.reason)

    def run(self, task: Task, timeout_s: float | None = None) -> Outcome:
        """Make one image. Never raises for the image's own failures: see :class:`Outcome`.

        ``worker_lost`` in the outcome says the worker was killed or died, and
        must be started again before the next task.
        """
        budget = timeout_s or self.image_timeout_s
        try:
            self._post(task)
        except (BrokenPipeError, OSError) as exc:
            self.kill()
            return Outcome(False, error=f"worker lost before the image: {exc}", worker_lost=True)
        working_since: float | None = time.monotonic()
        used = 0.0
        while True:
            if working_since is not None and used + time.monotonic() - working_since >= budget:
                self.kill()
                return Outcome(
                    False,
                    error=f"timed out after {budget:g} s of generation (worker restarted)",
                    worker_lost=True,
                )
            wait = _POLL_S
            if working_since is not None:
                wait = min(wait, max(budget - used - (time.monotonic() - working_since), 0.01))
            message = self._receive(wait)
            if message is None:
                ended, code = self._ended()
                if ended:
                    self.kill()
                    return Outcome(
                        False, error=f"worker died with exit code {code}", worker_lost=True
                    )
                continue
            match message:
                case Pause() if working_since is not None:
                    used += time.monotonic() - working_since
                    working_since = None
                case Resume() if working_since is None:
                    working_since = time.monotonic()
                case Warn(text):
                    log.warning("%s: %s", self.job.model_name, text)
                case Done(measures, scores):
                    return Outcome(True, measures=measures, scores=scores)
                case Failed(reason, disk_full):
                    return Outcome(False, error=reason, disk_full=disk_full)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the worker to finish and wait for it; kill it if it does not."""
        if self.alive:
            with contextlib.suppress(BrokenPipeError, OSError):
                self._post(Stop())
            self._join(timeout)
        self.kill()

    def kill(self) -> None:
        """SIGKILL the worker (if alive), reap it, and close the pipe."""
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.kill()
            self._proc.join(10)
            if not self._proc.is_alive():
                self._proc.close()
            self._proc = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
