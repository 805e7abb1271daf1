"""Progress lines that read well in ``docker compose logs``: one plain line per event."""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import timedelta
from pathlib import Path

from gpu_coord import utc_now

log = logging.getLogger("benchmark.progress")
# The run's progress as JSON in the results folder, replaced whole after every image: the
# jobs service's dashboard reads it (jobs/dashboard/runner_view.py); nothing else keeps it.
VIEW_NAME = "progress.json"


def _duration(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


class Progress:
    """Counts images over a run and logs done/total, rate and ETA after each one.

    ``total`` counts every item of the run, ``already`` those finished by an
    earlier (killed) attempt, so a resumed run reports where it really stands;
    the rate and ETA come from the images made since this process started.
    """

    def __init__(
        self, total: int, already: int = 0, *, view: Path | None = None, run_id: str | None = None
    ) -> None:
        self.total = total
        self.done = already
        self.failed = 0
        self._made = 0
        self._start = time.monotonic()
        self._view, self._run_id = view, run_id
        self._publish(None, None)

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
        self._publish(model, prompt_set)

    def _publish(self, model: str | None, prompt_set: str | None) -> None:
        """Replace the JSON view (``view``) atomically; a failed write only costs the view."""
        if self._view is None:
            return
        state = {
            "run_id": self._run_id, "model": model, "prompt_set": prompt_set,
            "done": self.done, "total": self.total, "failed": self.failed,
            "images_per_second": self.rate, "eta_seconds": self.eta_s,
            "updated_at": utc_now(), "pid": os.getpid(),
        }  # fmt: skip
        temp = self._view.with_name(f".{self._view.name}.{os.getpid()}.tmp")
        try:
            temp.write_text(json.dumps(state), encoding="utf-8")
            temp.replace(self._view)
        except OSError as exc:
            log.warning("progress view %s not written: %s", self._view, exc)
