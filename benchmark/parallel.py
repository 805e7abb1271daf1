"""Several devices at once: one thread per device, each driving its own workers in turn.

The runner's main thread plans; each device's thread runs the models
:func:`benchmark.devices.spread` gave it, one worker process at a time, with
its own results-store connection. Progress is one count for the whole run,
behind a lock. The first error of any device (a full disk) stops the others
before their next model and is raised in the main thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from benchmark.devices import Slot, spread
from benchmark.progress import Progress

__all__ = ["SharedProgress", "run_on_devices"]

log = logging.getLogger("benchmark")


class _Model(Protocol):
    name: str
    steps: int
    width: int
    height: int


class SharedProgress:
    """A :class:`~benchmark.progress.Progress` that device threads advance together."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._lock = threading.Lock()

    @property
    def done(self) -> int:
        """Images finished so far, this run's earlier attempts included."""
        with self._lock:
            return self._progress.done

    def advance(self, model: str, prompt_set: str, *, ok: bool) -> None:
        """Count one finished image and log the progress line."""
        with self._lock:
            self._progress.advance(model, prompt_set, ok=ok)


def _cost(entry: tuple[_Model, Sequence[Any]]) -> float:
    """A model's remaining work: images times steps times pixels."""
    model, pending = entry
    return float(len(pending) * model.steps * model.width * model.height)


def run_on_devices(
    places: Sequence[Slot],
    work: Sequence[tuple[Any, list[Any]]],
    run_one: Callable[[Slot, Any, list[Any], SharedProgress], None],
    progress: Progress,
) -> None:
    """Run every ``(model, items)`` of ``work`` on one of ``places``, longest first.

    ``run_one(slot, model, items, progress)`` makes one model's items on one
    device. Returns when every device is done; raises the first error any raised.
    """
    queues = spread(list(work), _cost, len(places))
    shared = SharedProgress(progress)
    stop = threading.Event()
    errors: list[BaseException] = []

    def drive(slot: Slot, queue: list[tuple[Any, list[Any]]]) -> None:
        try:
            for model, items in queue:
                if stop.is_set():
                    return
                run_one(slot, model, items, shared)
        except BaseException as exc:  # handed to the main thread, which raises it
            errors.append(exc)
            stop.set()

    threads = []
    for slot, queue in zip(places, queues, strict=True):
        names = ", ".join(m.name for m, _ in queue) or "nothing"
        log.info("device %s: %s", slot.label, names)
        thread = threading.Thread(
            target=drive, args=(slot, queue), name=f"device-{slot.label}", daemon=True
        )
        thread.start()
        threads.append(thread)
    for thread in threads:
        # Joined in slices, so Ctrl-C still reaches the main thread.
        while thread.is_alive():
            thread.join(0.5)
    if errors:
        raise errors[0]
