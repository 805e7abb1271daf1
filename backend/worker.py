"""The one GPU worker: a thread that runs generations one at a time from a bounded queue.

Each generation runs inside a high-priority lease, so the benchmark yields the GPU at its next
denoising step. A job whose client gave up leaves the queue at once, or stops at its next step
when it is running. Every job knows its queue position (renumbered whenever the queue moves)
and reports its lease and each step as events. A CUDA out-of-memory error is flushed and
retried once, then answered 503. The worker logs, per request, how long it waited for the
lease and how long it generated.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from concurrent.futures import InvalidStateError
from dataclasses import replace

import torch
from PIL import Image

from backend.errors import APIError, QueueFull, ShuttingDown
from backend.estimates import DrainEstimate, StepClock
from backend.job import Delivery, GenerationCancelled, GenerationResult, Job
from backend.lease import job_lease
from backend.memory import flush_cuda, out_of_memory
from backend.metrics import Metrics
from backend.runtime import ModelRuntime
from backend.settings import Settings
from imagegen import GenerationRequest, LoadedPipeline, generate

log = logging.getLogger("backend")


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
        self.step_clock = StepClock()
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

    def submit(
        self,
        request: GenerationRequest,
        *,
        background: bool = False,
        deliver: Delivery | None = None,
    ) -> Job:
        """Queue ``request``; its job's ``queued`` event carries its queue position.

        ``deliver`` turns the images into what a background job's client reads back.
        """
        loaded = self.runtime.loaded
        steps = request.steps or (loaded.default_steps if loaded is not None else 0)
        job = Job(request, steps=steps, background=background, deliver=deliver)
        with self._cond:
            if self._closing:
                raise ShuttingDown("the service is shutting down; retry on another instance")
            if len(self._pending) < self.settings.queue_size:
                self._pending.append(job)
                job.queue_position = len(self._pending)
                job.emit("queued", status="queued", queue_position=job.queue_position)
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
        with self._cond:
            with contextlib.suppress(ValueError):  # already running or done
                self._pending.remove(job)
            self._renumber()
        job.cancel(reason)

    def snapshot(self) -> tuple[Job | None, list[Job]]:
        """The running job and the waiting ones, in queue order."""
        with self._cond:
            return self._running, list(self._pending)

    def eta_seconds(self, job: Job) -> float | None:
        """Seconds until ``job`` is done at the recent step pace: the running job's steps left,
        plus the steps of every job ahead and its own when queued (None before any step)."""
        with self._cond:
            running, pending = self._running, list(self._pending)
        if job.finished:
            return 0.0
        if job is running:
            return self.step_clock.eta(job.steps - job.step)
        if job not in pending:
            return None
        left = running.steps - running.step if running is not None else 0
        for waiting in pending:
            left += waiting.steps
            if waiting is job:
                break
        return self.step_clock.eta(left)

    def _renumber(self) -> None:
        # Under the lock: every waiting job whose place changed says so (an event per change).
        for index, waiting in enumerate(self._pending, start=1):
            if waiting.queue_position != index:
                waiting.queue_position = index
                waiting.emit("position", status="queued", queue_position=index)

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
            self._renumber()
            return job

    def _run(self) -> None:
        while (job := self._next()) is not None:
            start = time.perf_counter()
            try:
                if not job.future.set_running_or_notify_cancel():
                    continue  # the client gave up while it was queued
                job.set_running()
                try:
                    job.future.set_result(self._deliver(job, self._execute(job)))
                except GenerationCancelled as exc:
                    log.info("%s", exc)
                    job.future.set_exception(exc)
                except BaseException as exc:  # delivered to the waiting request, never lost
                    log.warning(
                        "request %s failed: %s: %s", job.request_id, type(exc).__name__, exc
                    )
                    if job.background and not isinstance(exc, APIError):
                        # A blocking request's route counts its own; nobody waits on this one.
                        self.metrics.failures.labels("error").inc()
                    job.future.set_exception(exc)
                self.drain.observe(time.perf_counter() - start)
            finally:
                with self._cond:
                    self._running = None

    @staticmethod
    def _deliver(job: Job, result: GenerationResult) -> GenerationResult:
        # A background job's images become what its client reads back (outside the lease),
        # and the job keeps that rather than the images.
        if job.deliver is None:
            return result
        job.data = job.deliver(result.images)
        return replace(result, images=[])

    def _generate(self, loaded: LoadedPipeline, job: Job) -> list[Image.Image]:
        """One generation with step events; a CUDA out-of-memory error is flushed and retried
        once, then raised as :class:`~backend.errors.GpuOutOfMemory` (503)."""
        last = time.perf_counter()

        def on_step(step: int, total: int) -> None:
            nonlocal last
            now = time.perf_counter()
            self.step_clock.observe(now - last)
            last = now
            job.step, job.steps = step + 1, total
            job.emit(
                "step",
                status="running",
                step=job.step,
                steps=total,
                progress=round(job.step / total, 4),
                eta_seconds=self.step_clock.eta(total - job.step),
            )
            job.stop_here(step)

        def on_block(name: str) -> None:
            # Inside a step and inside the VAE decode (which no step hook reaches): a job
            # cancelled there stops within one block instead of finishing the image.
            job.stop_here(job.step)

        # Each flush runs after its except clause: until then the error's traceback keeps the
        # failed attempt's frames, and their tensors, alive.
        cuda_said = ""
        try:
            return generate(loaded, job.request, on_step=on_step, on_block=on_block)
        except torch.cuda.OutOfMemoryError as exc:
            cuda_said = str(exc)
        flush_cuda(loaded.device)
        log.warning("request %s: CUDA out of memory, flushed, retrying once", job.request_id)
        job.step = 0
        job.emit("retry", status="running", reason=f"CUDA out of memory: {cuda_said}")
        last = time.perf_counter()
        try:
            return generate(loaded, job.request, on_step=on_step, on_block=on_block)
        except torch.cuda.OutOfMemoryError as exc:
            cuda_said = str(exc)
        flush_cuda(loaded.device)
        self.metrics.failures.labels("out_of_memory").inc()
        raise out_of_memory(job.request_id, cuda_said, self.runtime.memory, self.settings)

    def _execute(self, job: Job) -> GenerationResult:
        loaded = self.runtime.loaded
        if loaded is None:
            raise RuntimeError("the model is not loaded")
        queued = time.perf_counter() - job.enqueued_at
        job.lease_requested_at = time.perf_counter()
        with job_lease(self.settings, job) as held:
            job.lease_wait, job.forced = held.wait_seconds, bool(held.forced)
            job.emit(
                "lease",
                status="running",
                wait_seconds=round(held.wait_seconds, 4),
                forced=job.forced,
            )
            job.stop_here(0)  # the client may have left while we waited for the lease
            granted = time.perf_counter()
            images = self._generate(loaded, job)
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
