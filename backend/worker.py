"""The one GPU worker: a thread that runs generations one at a time from a bounded queue.

Each generation runs inside a high-priority lease, so the benchmark yields the GPU at its next
denoising step. A job whose client gave up leaves the queue at once, or stops at its next step
when it is running. The worker logs, per request, how long it waited for the lease and how long
it generated.
"""

from __future__ import annotations

import contextlib
import logging
import math
import statistics
import threading
import time
import uuid
from collections import deque
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field

from PIL import Image

from backend.errors import QueueFull, ShuttingDown
from backend.lease import backend_lease
from backend.metrics import Metrics
from backend.runtime import ModelRuntime
from backend.settings import Settings
from imagegen import GenerationRequest, generate

log = logging.getLogger("backend")


class GenerationCancelled(RuntimeError):
    """Raised from the step hook when the request that asked for the generation gave up."""


@dataclass(frozen=True)
class GenerationResult:
    """The images and how they were obtained."""

    images: list[Image.Image]
    lease_wait: float
    generation_seconds: float
    forced: bool
    lease_generation: int | None


@dataclass
class Job:
    """One queued generation. ``cancel()`` makes a running job stop at its next step."""

    request: GenerationRequest
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    future: Future[GenerationResult] = field(default_factory=Future)
    enqueued_at: float = field(default_factory=time.perf_counter)
    _cancelled: threading.Event = field(default_factory=threading.Event)
    _reason: BaseException | None = None

    def cancel(self, reason: BaseException | None = None) -> None:
        """Stop this job: a queued one never runs, a running one raises at its next step.

        ``reason`` is what the running job fails with (default :class:`GenerationCancelled`).
        """
        self._reason = reason
        self._cancelled.set()
        self.future.cancel()  # only succeeds while still queued

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def stop_here(self, step: int) -> None:
        """The step hook's check: raise the cancel reason if the job was cancelled."""
        if self.cancelled:
            if self._reason is not None:
                raise self._reason
            raise GenerationCancelled(f"request {self.request_id} gave up at step {step}")


class DrainEstimate:
    """How fast the queue drains: the median of the last jobs' service times (lease wait,
    generation, failures and cancellations included), so one long job does not skew it."""

    def __init__(self, window: int = 16, guess: float = 1.0) -> None:
        self._seconds: deque[float] = deque(maxlen=window)
        self._guess = guess
        self._lock = threading.Lock()  # the worker observes while request threads read

    def observe(self, seconds: float) -> None:
        with self._lock:
            self._seconds.append(seconds)

    @property
    def per_job(self) -> float:
        with self._lock:
            recent = list(self._seconds)
        return statistics.median(recent) if recent else self._guess

    def retry_after(self, jobs_ahead: int) -> int:
        """Whole seconds until ``jobs_ahead`` jobs have drained, at least 1."""
        return max(1, math.ceil(jobs_ahead * self.per_job))


class GenerationWorker:
    """Owns the queue and the thread that drains it.

    :meth:`submit` never blocks: past ``settings.queue_size`` pending jobs it raises
    :class:`QueueFull` with a ``Retry-After`` from the queue's measured drain rate.
    """

    def __init__(self, settings: Settings, runtime: ModelRuntime, metrics: Metrics) -> None:
        self.settings = settings
        self.runtime = runtime
        self.metrics = metrics
        self.drain = DrainEstimate()
        self._pending: deque[Job] = deque()
        self._running: Job | None = None
        self._cond = threading.Condition()
        self._closing = False
        self._stopped = False
        self._thread: threading.Thread | None = None
        metrics.track_queue(lambda: float(self.depth))

    @property
    def depth(self) -> int:
        """Jobs waiting (not counting the one running)."""
        with self._cond:
            return len(self._pending)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="backend-gpu-worker", daemon=True)
        self._thread.start()

    def retry_after(self) -> int:
        """Seconds a refused client should wait: the queue's expected drain time, at least 1."""
        with self._cond:
            ahead = len(self._pending) + (self._running is not None)
        return self.drain.retry_after(ahead)

    def submit(self, request: GenerationRequest) -> Job:
        job = Job(request)
        with self._cond:
            if self._closing:
                raise ShuttingDown("the service is shutting down; retry on another instance")
            if len(self._pending) < self.settings.queue_size:
                self._pending.append(job)
                self._cond.notify()
                return job
        self.metrics.queue_rejections.inc()
        wait = self.retry_after()
        raise QueueFull(
            f"the generation queue is full ({self.settings.queue_size} waiting); retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )

    def cancel(self, job: Job, reason: BaseException | None = None) -> None:
        """Withdraw ``job``: out of the queue now (its slot frees), or stopped at its next step."""
        with self._cond, contextlib.suppress(ValueError):  # already running or done
            self._pending.remove(job)
        job.cancel(reason)

    def begin_shutdown(self, grace: float) -> None:
        """Refuse new jobs, fail the queued ones with 503, and stop the running one after
        ``grace`` seconds (at its next step) unless it finished by then."""
        with self._cond:
            self._closing = True
            queued = list(self._pending)
            self._pending.clear()
            running = self._running
            self._cond.notify_all()
        for job in queued:
            # Failed, not cancelled: the waiting request answers 503 instead of hanging.
            with contextlib.suppress(InvalidStateError):  # its client gave up meanwhile
                job.future.set_exception(ShuttingDown("the service stopped before this ran"))
        if queued:
            log.info("shutting down: failed %d queued request(s) with 503", len(queued))
        if running is not None:
            timer = threading.Timer(grace, self._stop_running, args=(running,))
            timer.daemon = True
            timer.start()

    def _stop_running(self, job: Job) -> None:
        if not job.future.done():
            log.warning("shutdown grace over: stopping request %s", job.request_id)
            job.cancel(ShuttingDown("the service stopped during this generation"))

    def stop(self, timeout: float = 30.0) -> None:
        """Fail what is queued, let the running job stop at its next step, join the thread."""
        self.begin_shutdown(grace=0.0)
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _next(self) -> Job | None:
        with self._cond:
            while not self._pending and not self._stopped:
                self._cond.wait()
            if not self._pending:
                return None
            job = self._pending.popleft()
            self._running = job
            return job

    def _run(self) -> None:
        while (job := self._next()) is not None:
            start = time.perf_counter()
            try:
                if not job.future.set_running_or_notify_cancel():
                    continue  # the client gave up while it was queued
                try:
                    job.future.set_result(self._execute(job))
                except GenerationCancelled as exc:
                    log.info("%s", exc)
                    job.future.set_exception(exc)
                except BaseException as exc:  # delivered to the waiting request, never lost
                    log.warning(
                        "request %s failed: %s: %s", job.request_id, type(exc).__name__, exc
                    )
                    job.future.set_exception(exc)
                self.drain.observe(time.perf_counter() - start)
            finally:
                with self._cond:
                    self._running = None

    def _execute(self, job: Job) -> GenerationResult:
        loaded = self.runtime.loaded
        if loaded is None:
            raise RuntimeError("the model is not loaded")
        queued = time.perf_counter() - job.enqueued_at

        steps_done = 0

        def on_step(step: int, total: int) -> None:
            nonlocal steps_done
            steps_done = step + 1
            job.stop_here(step)

        def on_block(name: str) -> None:
            # Inside a step and inside the VAE decode (which no step hook reaches): a job
            # cancelled there stops within one block instead of finishing the image.
            job.stop_here(steps_done)

        with backend_lease(self.settings) as held:
            job.stop_here(0)  # the client may have left while we waited for the lease
            granted = time.perf_counter()
            images = generate(loaded, job.request, on_step=on_step, on_block=on_block)
            done = time.perf_counter()
            forced = bool(held.forced)
            generation = held.generation
        wait = held.wait_seconds
        gen_seconds = done - granted
        self.metrics.lease_wait.observe(wait)
        self.metrics.generation_seconds.observe(gen_seconds)
        self.metrics.images.inc(len(images))
        if forced:
            self.metrics.forced_leases.inc()
        log.info(
            "request %s: %d image(s) queued %.3f s, lease wait %.3f s%s, generation %.3f s",
            job.request_id,
            len(images),
            queued,
            wait,
            " (forced: went ahead without the lease)" if forced else "",
            gen_seconds,
        )
        return GenerationResult(images, wait, gen_seconds, forced, generation)
