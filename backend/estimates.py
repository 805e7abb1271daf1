"""How fast the queue drains and how long a step takes: the figures behind Retry-After and ETAs."""

from __future__ import annotations

import math
import random
import statistics
import threading
from collections import deque


class RecentMedian:
    """The median of the last ``window`` observations (``guess`` before any), thread-safe.

    The median, so one long job (or one slow first step) does not skew it.
    """

    def __init__(self, window: int = 16, guess: float | None = None) -> None:
        self._seconds: deque[float] = deque(maxlen=window)
        self._guess = guess
        self._lock = threading.Lock()  # the worker observes while request threads read

    def observe(self, seconds: float) -> None:
        with self._lock:
            self._seconds.append(seconds)

    @property
    def median(self) -> float | None:
        with self._lock:
            recent = list(self._seconds)
        return statistics.median(recent) if recent else self._guess


class DrainEstimate(RecentMedian):
    """How fast the queue drains: the median of the last jobs' service times (lease wait,
    generation, failures and cancellations included).

    ``Retry-After`` is that drain time stretched by a random share up to ``jitter``, so
    clients refused in the same burst do not all come back in the same second and meet a
    full queue again (the usual spread for retries; ``rng`` makes it reproducible).
    """

    def __init__(
        self,
        window: int = 16,
        guess: float = 1.0,
        *,
        jitter: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(window, guess)
        if jitter < 0:
            raise ValueError(f"jitter must be at least 0, got {jitter}")
        self.jitter = jitter
        self._rng = rng or random.Random()

    @property
    def per_job(self) -> float:
        median = self.median
        assert median is not None  # there is always a guess
        return median

    def retry_after(self, jobs_ahead: int) -> int:
        """Whole seconds until ``jobs_ahead`` jobs have drained (plus the jitter), at least 1."""
        drain = jobs_ahead * self.per_job
        with self._lock:  # one Random, many request threads
            spread = 1.0 + self.jitter * self._rng.random()
        return max(1, math.ceil(drain * spread))


class StepClock(RecentMedian):
    """Seconds per denoising step, over the last steps of recent jobs; None before the first."""

    def __init__(self, window: int = 32) -> None:
        super().__init__(window, None)

    def eta(self, steps_left: int) -> float | None:
        """Seconds for ``steps_left`` more steps at the recent pace (None when unmeasured)."""
        per_step = self.median
        return None if per_step is None else round(steps_left * per_step, 3)
