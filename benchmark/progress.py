"""Progress lines that read well in ``docker compose logs``: one plain line per event."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

log = logging.getLogger("benchmark.progress")


def _duration(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


class Progress:
    """Counts images over a run and logs done/total, rate and ETA after each one.

    ``total`` counts every item of the run, ``already`` those finished by an
    earlier (killed) attempt, so a resumed run reports where it really stands;
    the rate and ETA come from the images made since this process started.
    """

    def __init__(self, total: int, already: int = 0) -> None:
        self.total = total
        self.done = already
        self.failed = 0
        self._made = 0
        self._start = time.monotonic()

    @property
    def rate(self) -> float:
        """Images per second since this process started (0 before the first)."""
        elapsed = time.monotonic() - self._start
        return self._made / elapsed if elapsed > 0 and self._made else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the current rate, or None before the first image."""
        rate = self.rate
        return (self.total - self.done) / rate if rate > 0 else None

    def line(self, model: str, prompt_set: str) -> str:
        """The progress line for the current state."""
        percent = 100.0 * self.done / self.total if self.total else 100.0
        eta = self.eta_s
        failed = f" | {self.failed} failed" if self.failed else ""
        return (
            f"progress {self.done}/{self.total} images ({percent:.1f}%) | "
            f"{self.rate:.2f} img/s | ETA {_duration(eta) if eta is not None else '?'} | "
            f"model {model} | set {prompt_set}{failed}"
        )

    def advance(self, model: str, prompt_set: str, *, ok: bool) -> None:
        """Count one finished image and log the progress line."""
        self.done += 1
        self._made += 1
        if not ok:
            self.failed += 1
        log.info(self.line(model, prompt_set))
