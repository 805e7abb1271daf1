"""The one GPU worker: a thread that runs generations one at a time from a bounded queue.

Each generation runs inside a high-priority lease, so the benchmark yields the GPU at its next
denoising step. The worker logs, per request, how long it waited for the lease and how long it
generated.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field

from PIL import Image

from backend.errors import QueueFull
from backend.gpu_status import backend_lease
from backend.metrics import Metrics
from backend.runtime import ModelRuntime
from backend.settings import Settings
from backend.validation import GenerationParams
from imagegen import generate

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

    params: GenerationParams
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    future: Future[GenerationResult] = field(default_factory=Future)
    enqueued_at: float = field(default_factory=time.perf_counter)
    _cancelled: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        self._cancelled.set()
        self.future.cancel()  # only succeeds while still queued

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()


_STOP = object()


class GenerationWorker:
    """Owns the queue and the thread that drains it.

    :meth:`submit` never blocks: past ``settings.queue_size`` pending jobs it raises
    :class:`QueueFull` with a ``Retry-After`` estimated from recent generation times.
    """

    def __init__(self, settings: Settings, runtime: ModelRuntime, metrics: Metrics) -> None:
        self.settings = settings
        self.runtime = runtime
        self.metrics = metrics
        self._queue: queue.Queue[Job | object] = queue.Queue(maxsize=settings.queue_size)
        self._thread: threading.Thread | None = None
        # A running mean of generation time feeds Retry-After; start from a modest guess.
        self._mean_seconds = 1.0
        metrics.track_queue(lambda: float(self._queue.qsize()))

    @property
    def depth(self) -> int:
        """Jobs waiting (not counting the one running)."""
        return self._queue.qsize()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="backend-gpu-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel what is queued, let the running job finish its step, and join the thread."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, Job):
                item.cancel()
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    def retry_after(self) -> int:
        """Seconds a refused client should wait: the queue's expected drain time, at least 1."""
        return max(1, math.ceil((self.depth + 1) * self._mean_seconds))

    def submit(self, params: GenerationParams) -> Job:
        job = Job(params)
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self.metrics.queue_rejections.inc()
            wait = self.retry_after()
            raise QueueFull(
                f"the generation queue is full ({self.settings.queue_size} waiting); "
                f"retry in {wait} s",
                headers={"Retry-After": str(wait)},
            ) from None
        return job

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            assert isinstance(item, Job)
            if not item.future.set_running_or_notify_cancel():
                continue  # the client gave up while it was queued
            try:
                item.future.set_result(self._execute(item))
            except GenerationCancelled as exc:
                log.info("%s", exc)
                item.future.set_exception(exc)
            except BaseException as exc:  # delivered to the waiting request, never lost
                log.warning("request %s failed: %s: %s", item.request_id, type(exc).__name__, exc)
                item.future.set_exception(exc)

    def _execute(self, job: Job) -> GenerationResult:
        loaded = self.runtime.loaded
        if loaded is None:
            raise RuntimeError("the model is not loaded")
        s, p = self.settings, job.params
        queued = time.perf_counter() - job.enqueued_at

        def on_step(step: int, total: int) -> None:
            if job.cancelled:
                raise GenerationCancelled(f"request {job.request_id} gave up at step {step}")

        with backend_lease(s) as held:
            granted = time.perf_counter()
            images = generate(
                loaded,
                p.prompt,
                negative_prompt=p.negative_prompt,
                width=p.width,
                height=p.height,
                num_inference_steps=p.num_inference_steps,
                guidance_scale=p.guidance_scale,
                seed=p.seed,
                num_images=p.n,
                on_step=on_step,
            )
            done = time.perf_counter()
            forced = bool(held.forced)
            generation = held.generation
        wait = held.wait_seconds
        gen_seconds = done - granted
        self._mean_seconds = 0.8 * self._mean_seconds + 0.2 * gen_seconds
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
